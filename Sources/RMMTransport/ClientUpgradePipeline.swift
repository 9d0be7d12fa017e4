import NIOCore
import NIOHTTP1
import NIOWebSocket
import RMMProtocol

extension WebSocketConnector {
    /// The client pipeline (TLS if asked, the upgrade request, the link once the 101 came), on the
    /// channel's event loop; the future says whether the server upgraded.
    static func configureClientPipeline(
        on channel: any Channel, endpoint: ServerEndpoint, tls: TLSTrust?, path: String
    ) throws -> EventLoopFuture<Upgrade> {
        let sync = channel.pipeline.syncOperations
        if let tls { try sync.addHandler(try tls.makeClientHandler(host: endpoint.host)) }
        try sync.addHandler(UpgradeInactiveDeferral())
        let upgrader = NIOTypedWebSocketClientUpgrader<Upgrade>(
            maxFrameSize: WireLimits.maxFrameBytes,
            // The link answers framing errors itself, with a close code and a reason.
            enableAutomaticErrorHandling: false,
            upgradePipelineHandler: { channel, response in
                channel.eventLoop.makeCompletedFuture {
                    let id = response.headers.first(name: UpgradeQuery.connectionIdHeader)
                    return Upgrade.link(try WebSocketLink.install(on: channel, isClient: true, connectionId: id))
                }
            }
        )
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "\(endpoint.host):\(endpoint.port)")
        headers.add(name: "Content-Length", value: "0")
        headers.add(name: "User-Agent", value: "gururmm-agent")
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)
        let config = NIOTypedHTTPClientUpgradeConfiguration(
            upgradeRequestHead: head,
            upgraders: [upgrader],
            notUpgradingCompletionHandler: { channel in
                channel.eventLoop.makeCompletedFuture {
                    channel.close(promise: nil)
                    return Upgrade.refused
                }
            }
        )
        var pipeline = NIOUpgradableHTTPClientPipelineConfiguration(upgradeConfiguration: config)
        // The server's first frame (the challenge) can arrive in the same read as the
        // 101 response; NIO's default drops such bytes, which silently loses that frame.
        pipeline.leftOverBytesStrategy = .forwardBytes
        return try sync.configureUpgradableHTTPClientPipeline(configuration: pipeline)
    }
}
