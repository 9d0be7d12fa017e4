import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Agent side of the long-poll downlink: fetches the server's data frames over plain HTTP on the
/// agent port and feeds them into the link as if they had arrived on the WebSocket. Runs until the
/// link closes or the server says the connection is gone.
struct DownlinkPoller: Sendable {
    let endpoint: ServerEndpoint
    let connectionId: String
    let link: WebSocketLink

    func start() {
        Task { await run() }
    }

    private func run() async {
        var after = 0
        var failures = 0
        while link.closure == nil {
            guard let url = URL(string: "http://\(endpoint.host):\(endpoint.port)/agent/downlink/\(connectionId)?after=\(after)&wait=20") else { return }
            var request = URLRequest(url: url, timeoutInterval: 40)
            request.setValue("gururmm-agent", forHTTPHeaderField: "User-Agent")
            do {
                let (body, response) = try await URLSession.shared.data(for: request)
                let status = (response as? HTTPURLResponse)?.statusCode ?? 0
                if status == 404 || status == 410 { return }
                guard status == 200, let frames = DownlinkQueues.decode(body) else {
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
                    link.close(.protocolError, reason: "long-poll downlink unreachable: \(error.localizedDescription)")
                    return
                }
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
    }
}
