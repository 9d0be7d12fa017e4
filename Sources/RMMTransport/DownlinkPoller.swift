import Foundation
import RMMProtocol

/// Agent side of the long-poll downlink: fetches the server's data frames over HTTP(S) on the
/// agent port, with the same TLS trust as the WebSocket, and feeds them into the link as if they had arrived on the WebSocket. Runs until the
/// link closes or the server says the connection is gone.
struct DownlinkPoller: Sendable {
    let endpoint: ServerEndpoint
    let tls: TLSTrust?
    let connectionId: String
    let link: WebSocketLink

    func start() {
        Task { await run() }
    }

    private func run() async {
        var after = 0
        var failures = 0
        while link.closure == nil {
            do {
                let reply = try await OneShotHTTP.request(
                    .GET, host: endpoint.host, port: endpoint.port, path: DownlinkPollQuery(after: after).uri(connectionId: connectionId),
                    tls: tls, headers: [("User-Agent", "gururmm-agent")], timeout: .seconds(40), maxBody: DownlinkPollBody.maxBytes
                )
                let status = reply.status
                if status == 404 || status == 410 { return }
                guard status == 200, let frames = DownlinkPollBody.decode(reply.body) else {
                    failures += 1
                    if failures > 5 {
                        link.close(.protocolError, reason: "long-poll downlink failed (HTTP \(status))")
                        return
                    }
                    continue
                }
                failures = 0
                for frame in frames where frame.index > after {
                    link.injectInbound(frame.data)
                    after = frame.index
                }
            } catch {
                failures += 1
                if failures > 5 {
                    link.close(.protocolError, reason: "long-poll downlink unreachable: \(error)")
                    return
                }
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
    }
}
