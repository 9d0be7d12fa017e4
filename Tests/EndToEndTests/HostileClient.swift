import Foundation
import RMMProtocol
import RMMTransport

/// Facts a hostile test client claims in its hello or enroll.
let malloryFacts = AgentFacts(name: "mallory", hostname: "evil", os: "none", version: "0")

/// Opens a raw WebSocket connection to the server's agent port, from `source` (a 127.0.0.x
/// address, to be another host) or the default address.
///
/// Every hostile case expects the server to close; a server that never did would hang the test,
/// so the link is aborted after a deadline and the check then fails with "connection lost".
func hostileLink(_ server: E2EServer, from source: String? = nil) async throws -> (WebSocketLink, AsyncStream<LinkEvent>.Iterator) {
    let link = try await WebSocketConnector.connect(to: try ServerEndpoint(parsing: server.agentURL), sourceAddress: source)
    Task {
        try await Task.sleep(for: .seconds(20))
        link.abort()
    }
    return (link, link.events.makeAsyncIterator())
}

/// A raw client once the server's challenge arrived.
func hostileClient(_ server: E2EServer, from source: String? = nil) async throws -> (WebSocketLink, Challenge, AsyncStream<LinkEvent>.Iterator) {
    let (link, stream) = try await hostileLink(server, from: source)
    var events = stream
    let first = await events.next()
    guard case .message(let envelope)? = first, case .challenge(let challenge) = envelope.message else {
        throw E2EError("expected a challenge first, got \(String(describing: first))")
    }
    return (link, challenge, events)
}

/// Waits for the server to close a raw client; returns the close code and reason it sent.
func closeOf(_ events: inout AsyncStream<LinkEvent>.Iterator) async -> LinkClosure? {
    while let event = await events.next() {
        if case .closed(let closure) = event { return closure }
    }
    return nil
}
