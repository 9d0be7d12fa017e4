import Foundation
import NIOCore
import RMMProtocol
import RMMTransport

/// One probe connection of the doctor: the agent's connector and downlink (the long-poll one
/// included), the `doctor` message, pings and echoes, each waited on with a deadline.
struct DoctorProbeLink: Sendable {
    let link: WebSocketLink
    let inbox: DoctorInbox

    /// Upgrades with `mode` as the agent would, sends a ping, and waits for the challenge.
    static func open(_ endpoint: ServerEndpoint, trust: TLSTrust?, mode: DownlinkMode) async -> (DoctorOutcome, DoctorProbeLink?) {
        let start = ContinuousClock.now
        let link: WebSocketLink
        do {
            link = try await WebSocketConnector.connect(to: endpoint, tls: trust, downlink: mode,
                                                        connectTimeout: DoctorNet.timeout, answerTimeout: DoctorNet.timeout)
        } catch let error as TransportError {
            if case .answerLost = error { return (.openFailed(error.description, answerLost: true), nil) }
            return (.openFailed(error.description, answerLost: false), nil)
        } catch {
            return (.openFailed(DoctorNet.explain(error), answerLost: false), nil)
        }
        let ms = DoctorNet.milliseconds(since: start)
        let probe = DoctorProbeLink(link: link, inbox: DoctorInbox.draining(link))
        link.ping()
        switch await probe.inbox.next(within: DoctorPlan.replyTimeout, where: { if case .challenge = $0.message { true } else { false } }) {
        case .found:
            return (.opened(ms: ms, challenge: true, pongRttMs: link.counters.lastPongRttMs), probe)
        case .closed(let closure):
            return (closure.code.map { DoctorOutcome.refused(code: Int($0), reason: closure.reason) } ?? .failed(closure.description), probe)
        case .timedOut:
            return (.opened(ms: ms, challenge: false, pongRttMs: link.counters.lastPongRttMs), probe)
        }
    }

    /// Sends `doctor` with the token and waits for `doctor_ready` or a refusal.
    func authenticate(token: String) async -> DoctorOutcome {
        link.send(Envelope(.doctor(DoctorHello(token: token))))
        switch await inbox.next(within: DoctorPlan.replyTimeout, where: { if case .doctorReady = $0.message { true } else { false } }) {
        case .found: return .ready
        case .closed(let closure): return closure.code.map { DoctorOutcome.refused(code: Int($0), reason: closure.reason) } ?? .failed(closure.description)
        case .timedOut: return .failed("no answer within \(Int(DoctorPlan.replyTimeout)) s")
        }
    }

    /// A ping and its pong's round trip (nil: none in time).
    func ping(timeout: Double) async -> DoctorOutcome {
        let before = link.counters.pongsReceived
        link.ping()
        let deadline = ContinuousClock.now + .milliseconds(Int64(timeout * 1000))
        // Pongs are counted by the link, not delivered as events: look at the count until the deadline.
        while ContinuousClock.now < deadline, link.isOpen {
            if link.counters.pongsReceived > before { return .replied(rttMs: link.counters.lastPongRttMs) }
            try? await Task.sleep(for: .milliseconds(5))
        }
        if link.counters.pongsReceived > before { return .replied(rttMs: link.counters.lastPongRttMs) }
        return link.isOpen ? .replied(rttMs: nil) : .failed(link.closure?.description ?? "connection closed")
    }

    /// One probe frame of exactly `size` bytes; its echo's round trip (nil: none in time).
    func echo(id: Int, size: Int, shape: Probe.Shape, timeout: Double) async -> DoctorOutcome {
        guard let frame = ProbeFrames.encode(id: id, size: size, shape: shape) else { return .failed("could not build a \(size)-byte probe") }
        let start = ContinuousClock.now
        link.sendEncoded(frame)
        switch await inbox.next(within: timeout, where: { if case .probe(let echo) = $0.message { echo.id == id } else { false } }) {
        case .found: return .replied(rttMs: DoctorNet.milliseconds(since: start))
        case .closed(let closure): return .failed("the connection closed: \(LogSafe.text(closure.description, limit: 200))")
        case .timedOut: return .replied(rttMs: nil)
        }
    }

    func close() {
        link.close(.normal, reason: "doctor done")
    }
}
