import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import RMMProtocol
import RMMTransport

/// The agent-facing listener: accepts WebSocket upgrades on `/agent` and runs each connection's
/// handshake and message loop. Plain HTTP requests get a short explanation and are closed.
final class AgentGateway: Sendable {
    private enum Upgrade: Sendable {
        case link(WebSocketLink)
        case plainHTTP
    }

    private let host: String
    private let port: Int
    private let handshake: AgentHandshake
    private let registry: SessionRegistry
    private let logger: Logger
    private let boundPort: AsyncStream<Int>.Continuation
    let boundPorts: AsyncStream<Int>

    init(host: String, port: Int, handshake: AgentHandshake, registry: SessionRegistry, logger: Logger) {
        self.host = host
        self.port = port
        self.handshake = handshake
        self.registry = registry
        self.logger = logger
        (boundPorts, boundPort) = AsyncStream<Int>.makeStream()
    }

    /// Listens until cancelled. Reports the bound port on `boundPorts` once listening.
    func run() async throws {
        let server: NIOAsyncChannel<EventLoopFuture<Upgrade>, Never> = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 1024)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let upgrader = NIOTypedWebSocketServerUpgrader<Upgrade>(
                        maxFrameSize: WireLimits.maxFrameBytes,
                        shouldUpgrade: { channel, head in
                            let path = head.uri.split(separator: "?").first.map(String.init) ?? head.uri
                            return channel.eventLoop.makeSucceededFuture(path == "/agent" ? HTTPHeaders() : nil)
                        },
                        upgradePipelineHandler: { channel, _ in
                            channel.eventLoop.makeCompletedFuture {
                                Upgrade.link(try WebSocketLink.install(on: channel, isClient: false))
                            }
                        }
                    )
                    let config = NIOTypedHTTPServerUpgradeConfiguration(
                        upgraders: [upgrader],
                        notUpgradingCompletionHandler: { channel in
                            channel.eventLoop.makeCompletedFuture {
                                try channel.pipeline.syncOperations.addHandler(PlainHTTPRefusal())
                                return Upgrade.plainHTTP
                            }
                        }
                    )
                    return try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(
                        configuration: .init(upgradeConfiguration: config)
                    )
                }
            }
        if let port = server.channel.localAddress?.port { boundPort.yield(port) }
        boundPort.finish()
        logger.info("agent gateway listening on \(host):\(server.channel.localAddress?.port ?? port)")
        try await withThrowingDiscardingTaskGroup { group in
            try await server.executeThenClose { inbound in
                for try await upgrade in inbound {
                    group.addTask { await self.serve(upgrade) }
                }
            }
        }
    }

    private func serve(_ upgrade: EventLoopFuture<Upgrade>) async {
        do {
            guard case .link(let link) = try await upgrade.get() else { return }
            await handshake.run(link)
        } catch {
            logger.debug("connection ended before upgrade: \(error)")
        }
    }
}

/// Answers a non-WebSocket request on the agent port with 400 and a hint, then closes.
private final class PlainHTTPRefusal: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .end = unwrapInboundIn(data) else { return }
        let body = "This is the GuruRMM agent port: agents connect with a WebSocket upgrade on /agent. Operators use the API port.\n"
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        headers.add(name: "Content-Length", value: "\(body.utf8.count)")
        headers.add(name: "Connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .badRequest, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}
