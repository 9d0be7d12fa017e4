import Foundation
import NIOConcurrencyHelpers
import RMMProtocol
import RMMTransport

/// The agent's link health memory across connections: which downlink mode and packet limits to
/// connect with, recent reconnects and their reasons, and what the agent found wrong itself.
/// Shared by the runtime, the connection and its reporter (a lock, not an actor, so the reporter
/// never waits behind the agent's message consumer).
public final class LinkPolicy: Sendable {
    private struct State {
        var mode: DownlinkMode = .text
        var fallbackSince: Date?
        var maxSegmentSize: Int?
        var messageCap: Int?
        var reconnects: [ReconnectRecord] = []
        var finding: String?
        /// The agent's own findings as data, newest last (bounded by `LinkFinding.maxPerReport`).
        var findings: [LinkFinding] = []
        /// The connection id and mode of the latest attempt that got an upgrade answer.
        var connectionId: String?
        var connectionMode: DownlinkMode = .text
    }

    private let state = NIOLockedValueBox(State())
    /// Seconds in a fallback mode before the next connection tries plain text frames again.
    let retryPrimaryAfter: Double
    /// The mode an operator chose for this site (`--downlink`); nil lets the agent decide.
    let startMode: DownlinkMode?

    public init(retryPrimaryAfter: Double = 600, startMode: DownlinkMode? = nil) {
        self.retryPrimaryAfter = retryPrimaryAfter
        self.startMode = startMode
        if let startMode { state.withLockedValue { $0.mode = startMode } }
    }

    /// The settings for the next connection. After `retryPrimaryAfter` in a fallback mode the agent
    /// tries text frames again; if the path still filters them it falls back again.
    public func nextConnection(now: Date) -> (mode: DownlinkMode, mss: Int?, cap: Int?) {
        state.withLockedValue { s in
            if s.mode != .text, let since = s.fallbackSince, now.timeIntervalSince(since) >= retryPrimaryAfter {
                s.mode = startMode ?? .text
                s.fallbackSince = nil
            }
            return (s.mode, s.maxSegmentSize, s.messageCap)
        }
    }

    public var mode: DownlinkMode { state.withLockedValue { $0.mode } }

    /// Learns from how a connection ended: the server's hints in its close (4010, 4011), a quiet
    /// downlink, a lost welcome. Returns true when the reconnect backoff should start over.
    public func learn(from closure: LinkClosure, welcomed: Bool, downlinkQuiet: Bool, welcomeLost: Bool, now: Date) -> Bool {
        recordReconnect(reason: closure.description, now: now)
        apply(close: closure, now: now)
        if downlinkQuiet {
            // Quiet before any welcome: the pong came, the challenge never did.
            find(welcomed ? .downlinkQuiet : .challengeLost, detail: closure.description, now: now)
        }
        if welcomeLost { find(.welcomeLost, detail: closure.description, now: now) }
        if downlinkQuiet {
            escalate(reason: "downlink-quiet: data frames stopped while control frames arrived", now: now)
        }
        if welcomeLost {
            // A small frame passed, a larger one never came: treat it as an MTU blackhole.
            shrinkPackets(reason: "welcome-lost: the challenge arrived but the welcome did not", now: now)
        }
        return welcomed || downlinkQuiet || welcomeLost
    }

    /// TCP connected but the server's TLS/upgrade answer never came: the same symptom as a lost
    /// welcome one step earlier (the certificate flight is the first large packet).
    public func learnAnswerLost(now: Date) {
        recordReconnect(reason: "answer-lost", now: now)
        // No upgrade answer, so no connection id: the server could not have told this attempt apart.
        state.withLockedValue { $0.connectionId = nil }
        find(.answerLost, detail: "TCP connected; no TLS/upgrade answer", now: now)
        shrinkPackets(reason: "answer-lost: TCP connected but the server's TLS/upgrade answer never arrived", now: now)
    }

    /// Data frames stopped while control frames arrived: try the next downlink mode.
    func escalate(reason: String, now: Date) {
        state.withLockedValue { s in
            if let next = s.mode.fallback {
                s.mode = next
                s.fallbackSince = now
            }
            s.finding = reason
        }
    }

    /// Applies what the server's close said: a downlink mode, or packet limits.
    func apply(close: LinkClosure, now: Date) {
        guard let code = close.code.flatMap(CloseCode.init(rawValue:)), let hint = CloseHint.parse(code: code, reason: close.reason) else { return }
        state.withLockedValue { s in
            switch hint {
            case .switchDownlink(let mode):
                s.mode = mode
                s.fallbackSince = mode == .text ? nil : now
                s.finding = "server found the path filters data; downlink now \(mode.rawValue)"
            case .shrinkPackets(let mss, let cap):
                s.maxSegmentSize = mss
                s.messageCap = cap
                s.finding = "server found large packets are lost; mss \(s.maxSegmentSize.map(String.init) ?? "-"), cap \(s.messageCap.map(String.init) ?? "-")"
            case .reconnect:
                // Where to connect is the server rotation's decision, not the link's.
                break
            }
        }
    }

    /// Suspected MTU blackhole seen from the agent's side: use small packets from now on.
    func shrinkPackets(reason: String, now: Date) {
        state.withLockedValue { s in
            s.maxSegmentSize = s.maxSegmentSize ?? PacketLimits.clampedMSS
            s.messageCap = s.messageCap ?? PacketLimits.minMessageCap
            s.finding = reason
        }
    }

    func recordReconnect(reason: String, now: Date) {
        state.withLockedValue { s in
            s.reconnects.append(ReconnectRecord(time: now.timeIntervalSince1970, reason: reason))
            if s.reconnects.count > LinkReport.maxReconnects { s.reconnects.removeFirst(s.reconnects.count - LinkReport.maxReconnects) }
        }
    }

    /// Remembers what the agent found wrong on its side (reported in link reports).
    public func note(_ finding: String) {
        state.withLockedValue { $0.finding = finding }
    }

    var history: (reconnects: [ReconnectRecord], finding: String?, findings: [LinkFinding]) {
        state.withLockedValue { ($0.reconnects, $0.finding, $0.findings) }
    }

    /// A new attempt got the server's upgrade answer: its connection id (from the 101 header,
    /// which only this TCP peer saw) ties the agent's later findings about it to the server's
    /// evidence of the same attempt.
    public func noteConnected(connectionId: String?, mode: DownlinkMode) {
        state.withLockedValue { s in
            s.connectionId = connectionId
            s.connectionMode = mode
        }
    }

    /// Seconds a welcomed session must last for the findings it reported at its start to count as delivered.
    public static let findingsDeliveredAfter = 10.0

    /// Drops the findings up to `time` (they were delivered).
    public func forgetFindings(through time: Double) {
        state.withLockedValue { $0.findings.removeAll { $0.time <= time } }
    }

    /// Time of the newest finding, if any.
    public var newestFindingTime: Double? { state.withLockedValue { $0.findings.last?.time } }

    /// Records a finding about the latest attempt, as data for the link reports.
    public func find(_ kind: LinkFinding.Kind, detail: String, now: Date) {
        state.withLockedValue { s in
            s.findings.append(LinkFinding(kind: kind, time: now.timeIntervalSince1970, connectionId: s.connectionId, downlinkMode: s.connectionMode, detail: detail))
            if s.findings.count > LinkFinding.maxPerReport { s.findings.removeFirst(s.findings.count - LinkFinding.maxPerReport) }
        }
    }
}
