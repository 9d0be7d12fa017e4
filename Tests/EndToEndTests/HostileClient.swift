import Foundation
import RMMProtocol
import RMMTestSupport
import RMMTransport

/// Facts a hostile test client claims in its hello or enroll.
let malloryFacts = AgentFacts(name: "mallory", hostname: "evil", os: "none", version: "0")

/// Opens a raw WebSocket connection to the server's agent port, from `source` (a 127.0.0.x
/// address, to be another host) or the default address.
///
/// Every hostile case expects the server to close; a server that never did would hang the test,
/// so the link is aborted after a deadline and the check then fails with "connection lost".
func hostileLink(_ server: E2EServer, from source: String? = nil) async throws -> (WebSocketLink, LinkEvents.Iterator) {
    let link = try await WebSocketConnector.connect(to: try ServerEndpoint(parsing: server.agentURL), sourceAddress: source)
    Task {
        try await Task.sleep(for: .seconds(20))
        link.abort()
    }
    return (link, link.events.makeAsyncIterator())
}

/// A raw client once the server's challenge arrived.
func hostileClient(_ server: E2EServer, from source: String? = nil) async throws -> (WebSocketLink, Challenge, LinkEvents.Iterator) {
    let (link, stream) = try await hostileLink(server, from: source)
    var events = stream
    let first = await events.next()
    guard case .message(let envelope)? = first, case .challenge(let challenge) = envelope.message else {
        throw E2EError("expected a challenge first, got \(String(describing: first))")
    }
    return (link, challenge, events)
}

/// Waits for the server to close a raw client; returns the close code and reason it sent.
func closeOf(_ events: inout LinkEvents.Iterator) async -> LinkClosure? {
    while let event = await events.next() {
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
    func upgrade() async throws -> Challenge? {
        await send(Array(RawWebSocket.upgradeRequest().utf8))
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
