import Foundation
import RMMProtocol
import RMMTestSupport
import RMMTransport
import Testing

/// Facts a hostile test client claims in its hello or enroll.
let malloryFacts = AgentFacts(name: "mallory", hostname: "evil", os: "none", version: "0")

/// Opens a raw WebSocket connection to the server's agent port, from `source` (a 127.0.0.x
/// address, to be another host) or the default address.
func hostileLink(_ server: E2EServer, from source: String? = nil) async throws -> (WebSocketLink, LinkEvents.Iterator) {
    let link = try await WebSocketConnector.connect(to: try ServerEndpoint(parsing: server.agentURL), sourceAddress: source)
    return (link, link.events.makeAsyncIterator())
}

/// A raw client once the server's challenge arrived.
func hostileClient(_ server: E2EServer, from source: String? = nil) async throws -> (WebSocketLink, Challenge, LinkEvents.Iterator) {
    let (link, stream) = try await hostileLink(server, from: source)
    var events = stream
    let first = await nextEvent(&events)
    guard case .message(let envelope)? = first, case .challenge(let challenge) = envelope.message else {
        throw E2EError("expected a challenge first, got \(String(describing: first))")
    }
    return (link, challenge, events)
}

/// The link's next event, or nil when it ended or none came within `timeout` (recorded as an
/// issue): every hostile case expects the server to answer or close, and one that never did
/// must fail the test, not hang it.
func nextEvent(_ events: inout LinkEvents.Iterator, within timeout: Duration = .seconds(20)) async -> LinkEvent? {
    let iterator = events
    let outcome: LinkEvent?? = await withTaskGroup(of: LinkEvent??.self) { group in
        group.addTask {
            var pulling = iterator
            return .some(await pulling.next())
        }
        group.addTask {
            try? await Task.sleep(for: timeout)
            return .none
        }
        let first = await group.next() ?? .none
        // Cancelling a waiting pull ends the link's event sequence, which is what a deadline means here.
        group.cancelAll()
        return first
    }
    guard let event = outcome else {
        Issue.record("no event from the link within \(timeout)")
        return nil
    }
    return event
}

/// Waits for the server to close a raw client; returns the close code and reason it sent.
func closeOf(_ events: inout LinkEvents.Iterator, within timeout: Duration = .seconds(20)) async -> LinkClosure? {
    let deadline = ContinuousClock.now.advanced(by: timeout)
    while let event = await nextEvent(&events, within: deadline - ContinuousClock.now) {
        if case .closed(let closure) = event { return closure }
    }
    return nil
}

/// How a hostile connection ended, as the client saw it.
enum HostileOutcome: Hashable, Sendable, CustomStringConvertible {
    /// An HTTP answer with this status, then the server closed the connection.
    case http(Int)
    /// After the upgrade, a close frame with this code, then the server closed the connection.
    case close(UInt16)
    /// The server closed the connection without an HTTP status or a close code.
    case closedWithoutCode
    /// The server had not closed the connection by the deadline.
    case stillOpen

    static func close(_ code: CloseCode) -> HostileOutcome { .close(code.rawValue) }

    var description: String {
        switch self {
        case .http(let status): "HTTP \(status)"
        case .close(let code): "close \(code)"
        case .closedWithoutCode: "closed without a code"
        case .stillOpen: "still open"
        }
    }
}

/// A hostile client on the agent port writing raw bytes from a chosen loopback address, so it can
/// send what no WebSocket library would (a garbled request, a truncated or oversized frame, a
/// request dribbled byte by byte), and read exactly what the server answers.
struct RawAgentPortClient: Sendable {
    let tcp: RawTCPClient

    static func connect(port: Int, from source: String) async throws -> RawAgentPortClient {
        RawAgentPortClient(tcp: try await RawTCPClient.connect(host: "127.0.0.1", port: port, from: source))
    }

    var reply: RawServerReply { RawServerReply(parsing: tcp.receivedBytes) }

    /// Writes bytes. A write to a connection the server already refused may fail; the outcome
    /// shows the refusal, so the failure is not an error here.
    func send(_ bytes: [UInt8]) async {
        try? await tcp.send(bytes)
    }

    /// Writes one message as a masked text frame.
    func send(_ envelope: Envelope) async throws {
        await send(RawWebSocket.frame(payload: Array(try WireCodec().encode(envelope))))
    }

    /// Asks for the WebSocket upgrade and returns the server's challenge; nil when the server
    /// closed instead (refused at accept, or right after the upgrade).
    func upgrade(extraHeaders: [String] = []) async throws -> Challenge? {
        await send(Array(RawWebSocket.upgradeRequest(extraHeaders: extraHeaders).utf8))
        guard case .challenge(let challenge)? = try await message(at: 0)?.message else { return nil }
        return challenge
    }

    /// The server's `index`-th message (0 is the challenge) once it arrived; nil if the server
    /// closed before sending it.
    func message(at index: Int, timeout: Duration = .seconds(10)) async throws -> Envelope? {
        let tcp = self.tcp
        try await waitUntil("message \(index) or a close from the server", timeout: timeout, poll: .milliseconds(20)) {
            RawServerReply(parsing: tcp.receivedBytes).texts.count > index || tcp.isClosed
        }
        let texts = reply.texts
        guard texts.count > index else { return nil }
        return try WireCodec().decode(Data(texts[index]))
    }

    /// Waits until the server closes the connection (at most `timeout`), closes this side, and
    /// says how it ended, with the close reason or the HTTP answer as detail.
    func end(within timeout: Duration) async -> (outcome: HostileOutcome, detail: String) {
        let tcp = self.tcp
        try? await waitUntil("the server closes the connection", timeout: timeout, poll: .milliseconds(20)) { tcp.isClosed }
        let closed = tcp.isClosed
        await tcp.close()
        let reply = self.reply
        let detail = reply.close?.reason ?? String(decoding: tcp.receivedBytes.prefix(300), as: UTF8.self)
        guard closed else { return (.stillOpen, detail) }
        if reply.statusCode == 101 {
            return (reply.close.map { .close($0.code) } ?? .closedWithoutCode, detail)
        }
        return (reply.statusCode.map { .http($0) } ?? .closedWithoutCode, detail)
    }
}
