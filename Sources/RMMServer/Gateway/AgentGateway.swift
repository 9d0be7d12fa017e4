import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket
import RMMProtocol
import RMMTransport

/// The agent-facing listener: accepts WebSocket upgrades on `/agent` and runs each connection's
/// handshake (which then has the link push messages to the session). Plain HTTP requests get a
/// short explanation and are closed.
final class AgentGateway: Sendable {
    private enum Upgrade: Sendable {
        case link(WebSocketLink, AgentUpgradeRequest, ConnectionSlot)
        case plainHTTP
    }

    private let host: String
    private let port: Int
    /// TLS for every connection (the WebSocket and the long-poll downlink); nil with --plain.
    private let tls: NIOSSLContext?
    /// Long-poll queues of connections whose agent asked for `downlink=poll`.
    private let downlinks = DownlinkQueues()
    /// What `shouldUpgrade` decided per channel, picked up by `upgradePipelineHandler` on the same loop.
    private let pending = NIOLockedValueBox<[ObjectIdentifier: (id: String, request: AgentUpgradeRequest)]>([:])
    private let handshake: AgentHandshake
    /// This start's tag in connection ids, and the forwarding of polls to the node holding theirs.
    private let forwarding: PollForwarding
    private let logger: Logger
    private let boundPort: AsyncStream<Int>.Continuation
    /// The listening channel once bound, so that shutdown can stop accepting.
    private let listener = NIOLockedValueBox<(any Channel)?>(nil)
    let boundPorts: AsyncStream<Int>

    init(host: String, port: Int, tls: NIOSSLContext?, handshake: AgentHandshake, forwarding: PollForwarding, logger: Logger) {
        self.host = host
        self.port = port
        self.tls = tls
        self.handshake = handshake
        self.forwarding = forwarding
        self.logger = logger
        (boundPorts, boundPort) = AsyncStream<Int>.makeStream()
    }

    /// Listens until cancelled. Reports the bound port on `boundPorts` once listening.
    func run() async throws {
        let server: NIOAsyncChannel<EventLoopFuture<Upgrade>, Never> = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 1024)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(
                minimum: 64, initial: handshake.settings.agentReadBufferBytes, maximum: handshake.settings.agentReadBufferMaxBytes
            ))
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try Self.addFrontHandlers(to: channel, settings: self.handshake.settings, tls: self.tls,
                                              connectionGuard: self.handshake.connectionGuard(behindTLS: self.tls != nil), logger: self.logger)
                    let upgrader = NIOTypedWebSocketServerUpgrader<Upgrade>(
                        maxFrameSize: WireLimits.maxFrameBytes,
                        // The link answers framing errors itself (1009 or 1002 with a reason), so the
                        // handshake sees its own close and counts it against the address. NIO's
                        // automatic handler closed first, reason-less, and the failure went uncounted.
                        enableAutomaticErrorHandling: false,
                        shouldUpgrade: { channel, head in
                            let request = AgentUpgradeRequest(uri: head.uri)
                            guard request.path == UpgradeQuery.path else { return channel.eventLoop.makeSucceededFuture(nil) }
                            // A refused X-Forwarded-For is answered by the guard itself.
                            let connectionGuard = try? channel.pipeline.syncOperations.handler(type: AgentConnectionGuard.self)
                            if connectionGuard?.headersRead(head.headers, channel: channel) != nil { return channel.eventLoop.makeSucceededFuture(nil) }
                            let id = self.forwarding.newConnectionId()
                            self.pending.withLockedValue { $0[ObjectIdentifier(channel)] = (id, request) }
                            var headers = HTTPHeaders()
                            headers.add(name: UpgradeQuery.connectionIdHeader, value: id)
                            return channel.eventLoop.makeSucceededFuture(headers)
                        },
                        upgradePipelineHandler: { channel, _ in
                            channel.eventLoop.makeCompletedFuture {
                                let choice = self.pending.withLockedValue { $0.removeValue(forKey: ObjectIdentifier(channel)) }
                                    ?? (id: "", request: AgentUpgradeRequest(uri: UpgradeQuery.path))
                                let connectionGuard = try channel.pipeline.syncOperations.handler(type: AgentConnectionGuard.self)
                                let slot = try connectionGuard.requestComplete()
                                let client = connectionGuard.client(of: channel)
                                // Its work ends with the request (the slot is released at close or
                                // authentication): out of the pipeline, it costs no hop per frame.
                                channel.pipeline.syncOperations.removeHandler(connectionGuard, promise: nil)
                                var queue: DownlinkQueue?
                                if choice.request.downlink == .poll {
                                    let created = DownlinkQueue()
                                    self.downlinks.register(choice.id, created)
                                    let downlinks = self.downlinks
                                    channel.closeFuture.whenComplete { _ in downlinks.remove(choice.id) }
                                    queue = created
                                }
                                // Until the agent authenticates it can make the server hold at most
                                // `maxUnauthenticatedBytes` (the handshake lifts the limit).
                                let link = try WebSocketLink.install(
                                    on: channel, isClient: false, sendMode: choice.request.downlink, pollQueue: queue, connectionId: choice.id,
                                    unauthenticatedLimit: WireLimits.maxUnauthenticatedBytes, remoteDescription: client?.peerDescription
                                )
                                return Upgrade.link(link, choice.request, slot)
                            }
                        }
                    )
                    let downlinks = self.downlinks
                    let forwarding = self.forwarding
                    let logger = self.logger
                    let config = NIOTypedHTTPServerUpgradeConfiguration(
                        upgraders: [upgrader],
                        notUpgradingCompletionHandler: { channel in
                            channel.eventLoop.makeCompletedFuture {
                                try channel.pipeline.syncOperations.addHandler(AgentPortHTTPHandler(downlinks: downlinks, forwarding: forwarding, logger: logger))
                                return Upgrade.plainHTTP
                            }
                        }
                    )
                    return try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(
                        configuration: .init(upgradeConfiguration: config)
                    )
                }
            }
        listener.withLockedValue { $0 = server.channel }
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

    /// The handlers every agent-port connection starts with, in order. The PROXY header reader only
    /// with `--trusted-proxy` (the header comes before TLS); without, the pipeline is as if the
    /// feature did not exist. Then TLS, then the connection guard (per-address limit on
    /// unauthenticated connections, and the request deadline), behind TLS so its 429/408 answers
    /// reach TLS clients readable (a refused handshake costs about a tenth of a millisecond of CPU).
    static func addFrontHandlers(
        to channel: any Channel, settings: ServerSettings, tls: NIOSSLContext?, connectionGuard: AgentConnectionGuard, logger: Logger
    ) throws {
        let sync = channel.pipeline.syncOperations
        if !settings.trustedProxies.isEmpty {
            try sync.addHandler(ProxyHeaderHandler(
                trusted: settings.trustedProxies, timeout: .milliseconds(Int64(settings.handshakeTimeout * 1000)), logger: logger
            ))
        }
        if let tls { try sync.addHandler(NIOSSLServerHandler(context: tls)) }
        try sync.addHandler(connectionGuard)
    }

    /// Stops accepting connections; `run` returns once the connections it serves have ended.
    func stopAccepting() {
        listener.withLockedValue { $0 }?.close(promise: nil)
    }

    /// Answers every pending downlink poll with what it has, and later polls at once.
    func endDownlinkPolls() {
        downlinks.endWaits()
    }

    private func serve(_ upgrade: EventLoopFuture<Upgrade>) async {
        do {
            guard case .link(let link, let request, let slot) = try await upgrade.get() else { return }
            await handshake.run(link, request: request, slot: slot)
        } catch {
            logger.debug("connection ended before upgrade: \(LogSafe.describe(error))")
        }
    }
}
