import NIOCore
import NIOPosix

/// Opens the upstream connection for an accepted downstream socket and pairs their forwarders.
struct UpstreamConnector: Sendable {
    let host: String
    let port: Int
    /// The mode new connections start in; each connection then has its own switch.
    let defaultMode: FaultModeSwitch
    let registry: ConnectionRegistry
    /// Where every connection's frame filters count what they forward, drop and corrupt.
    let statistics: FrameStatistics
    /// Written first on each upstream connection, before any client byte (a PROXY header).
    var proxyHeader: String? = nil

    /// Runs as the accepted channel's initializer, on its event loop. The downstream is not
    /// registered (so not read) until the returned future succeeds, which means no client byte
    /// arrives before there is an upstream to send it to; a failure closes the downstream,
    /// as an upstream that refuses connections would look to the client.
    func connect(for downstream: any Channel) -> EventLoopFuture<Void> {
        let modeSwitch = FaultModeSwitch(defaultMode.current)
        let id = registry.register(downstream: downstream, modeSwitch: modeSwitch)
        let registry = self.registry
        let statistics = self.statistics
        let proxyHeader = self.proxyHeader
        downstream.closeFuture.whenComplete { _ in registry.markClosed(.downstream, of: id) }
        do {
            try downstream.pipeline.syncOperations.addHandler(Forwarder(direction: .uplink, modeSwitch: modeSwitch, filter: FrameFilter(statistics: statistics)))
        } catch {
            registry.markClosed(.upstream, of: id)
            return downstream.eventLoop.makeFailedFuture(error)
        }
        // Same event loop as the downstream, so the two forwarders can call each other directly.
        return ClientBootstrap(group: downstream.eventLoop)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { upstream in
                upstream.eventLoop.makeCompletedFuture {
                    try upstream.pipeline.syncOperations.addHandler(Forwarder(direction: .downlink, modeSwitch: modeSwitch, filter: FrameFilter(statistics: statistics)))
                }
            }
            .connect(host: host, port: port)
            .flatMapErrorThrowing { error in
                registry.markClosed(.upstream, of: id)
                throw error
            }
            .flatMapThrowing { upstream in
                registry.attach(upstream: upstream, to: id)
                upstream.closeFuture.whenComplete { _ in registry.markClosed(.upstream, of: id) }
                // The downstream is not read until the pair is made below, so this goes first.
                if let proxyHeader { upstream.writeAndFlush(ByteBuffer(string: proxyHeader), promise: nil) }
                do {
                    let uplink = try downstream.pipeline.syncOperations.handler(type: Forwarder.self)
                    let downlink = try upstream.pipeline.syncOperations.handler(type: Forwarder.self)
                    Forwarder.pair(uplink, downlink)
                } catch {
                    // The downstream is closed by the failed initializer; do not leak the upstream.
                    upstream.close(promise: nil)
                    throw error
                }
            }
    }
}
