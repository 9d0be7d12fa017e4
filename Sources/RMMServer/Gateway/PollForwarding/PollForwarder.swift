import Foundation
import NIOCore
import NIOHTTP1
import RMMProtocol
import RMMTransport

/// The answer a node relays to the agent for a forwarded long-poll.
struct PollRelay: Sendable, Equatable {
    var status: HTTPResponseStatus
    var body: Data
}

/// Sends a long-poll to the node that holds its connection and brings the answer back: one HTTP
/// request on its own connection (`OneShotHTTP`), with the cluster's TLS pinned to the cluster's
/// key (every node serves it), bounded in time by the poll's wait plus `margin` (within the agent's own 40 s) and in size by
/// `DownlinkPollBody.maxBytes`.
struct PollForwarder: Sendable {
    /// The cluster's TLS key pin; nil on a `--plain` cluster.
    let pin: String?
    let proof: PollForwardProof
    var margin: TimeAmount = .seconds(5)

    /// Bodies relayed with another status are the peer's short text reasons.
    static let maxTextBytes = 1024

    func forward(uri: String, wait: Double, client: String, to peerURL: String, now: Date) async -> PollRelay {
        let endpoint: ServerEndpoint
        do {
            endpoint = try ServerEndpoint(parsing: peerURL)
        } catch {
            return PollRelay(status: .badGateway, body: Data("the node holding this connection has an unusable peer URL\n".utf8))
        }
        do {
            let reply = try await OneShotHTTP.request(
                .GET, host: endpoint.host, port: endpoint.port, path: uri, tls: pin.map { .pinned($0) },
                headers: [(PollForwardProof.header, proof.seal(uri: uri, client: client, now: now)), ("User-Agent", "gururmm-node")],
                timeout: .milliseconds(Int64(wait * 1000)) + margin, maxBody: DownlinkPollBody.maxBytes
            )
            return Self.relay(status: reply.status, body: reply.body)
        } catch {
            // The agent's poller retries a few times, then reconnects: a node it cannot reach
            // through its peer is as good as gone for it.
            return PollRelay(status: .badGateway, body: Data("the node holding this connection did not answer\n".utf8))
        }
    }

    /// What goes back to the agent: a poll's body on 200, a short reason otherwise; a status
    /// outside what a poll answers becomes 502.
    static func relay(status: Int, body: Data) -> PollRelay {
        switch status {
        case 200: return PollRelay(status: .ok, body: body)
        case 400, 403, 410, 429, 503: return PollRelay(status: HTTPResponseStatus(statusCode: status), body: body.prefix(maxTextBytes))
        default: return PollRelay(status: .badGateway, body: Data("the node holding this connection answered HTTP \(status)\n".utf8))
        }
    }
}
