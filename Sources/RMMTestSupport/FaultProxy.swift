import NIOCore
import NIOPosix

/// A TCP proxy for end-to-end tests that can be told to misbehave (see `FaultMode`).
///
/// Each accepted downstream connection gets its own upstream connection. Call `stop()` when the
/// test ends: the proxy owns an event-loop thread that only `stop()` releases.
public final class FaultProxy: Sendable {
    /// The port the proxy listens on (read back from the socket, so tests can ask for port 0).
    public let port: Int

    private let group: MultiThreadedEventLoopGroup
    private let serverChannel: any Channel
    private let modeSwitch: FaultModeSwitch
    private let registry: ConnectionRegistry
    private let statistics: FrameStatistics

    private init(
        port: Int,
        group: MultiThreadedEventLoopGroup,
        serverChannel: any Channel,
        modeSwitch: FaultModeSwitch,
        registry: ConnectionRegistry,
        statistics: FrameStatistics
    ) {
        self.port = port
        self.group = group
        self.serverChannel = serverChannel
        self.modeSwitch = modeSwitch
        self.registry = registry
        self.statistics = statistics
    }

    /// Starts listening and forwarding to `upstreamHost:upstreamPort`, in `.pass` mode. With
    /// `proxyHeader` (e.g. `PROXY TCP6 2001:db8::7 ::1 40000 443\r\n`) each upstream connection
    /// starts with it, as a load balancer naming the client would.
    public static func start(
        listenHost: String = "127.0.0.1",
        listenPort: Int = 0,
        upstreamHost: String,
        upstreamPort: Int,
        proxyHeader: String? = nil
    ) async throws -> FaultProxy {
        // One thread: both sockets of a pair share a loop anyway, and test machines are small.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let modeSwitch = FaultModeSwitch(.pass)
        let registry = ConnectionRegistry()
        let statistics = FrameStatistics()
        let upstream = UpstreamConnector(
            host: upstreamHost, port: upstreamPort, defaultMode: modeSwitch, registry: registry, statistics: statistics, proxyHeader: proxyHeader
        )
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { downstream in
                upstream.connect(for: downstream)
            }
        do {
            let channel = try await bootstrap.bind(host: listenHost, port: listenPort).get()
            guard let port = channel.localAddress?.port else {
                try? await channel.close()
                throw FaultProxyError.noBoundPort
            }
            return FaultProxy(port: port, group: group, serverChannel: channel, modeSwitch: modeSwitch, registry: registry, statistics: statistics)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    /// The current fault mode.
    public var mode: FaultMode {
        modeSwitch.current
    }

    /// Switches the fault mode for existing and new connections.
    public func setMode(_ mode: FaultMode) {
        modeSwitch.set(mode)
        setModeOfExistingConnections(mode)
    }

    /// Switches the fault mode of the connections open now only; new connections keep the
    /// proxy's mode. This is how a test breaks one path while the client's reconnect works.
    public func setModeOfExistingConnections(_ mode: FaultMode) {
        for connectionSwitch in registry.modeSwitches { connectionSwitch.set(mode) }
        // Forwarders read the mode on every chunk; the event only wakes those paused by the
        // old mode so they can resume reading.
        for channel in registry.channels {
            channel.pipeline.fireUserInboundEventTriggered(FaultModeChanged())
        }
    }

    /// Connections with at least one of their two sockets still open.
    public var connectionCount: Int {
        registry.openCount
    }

    /// Connections accepted since the proxy started; handy to wait for a client's reconnect.
    public var acceptedCount: Int {
        registry.acceptedCount
    }

    /// WebSocket frames forwarded, dropped and corrupted so far, totalled over all connections
    /// (closed ones included).
    public var frameCounts: FrameCounts {
        statistics.snapshot
    }

    /// WebSocket frames a mode discarded so far, both directions, all connections.
    public var droppedFrames: Int {
        let counts = statistics.snapshot
        return counts.droppedUplink + counts.droppedDownlink
    }

    /// WebSocket frames whose payload was replaced with garbage so far, all connections.
    public var corruptedFrames: Int {
        statistics.snapshot.corrupted
    }

    /// Whole WebSocket frames passed on in `direction` so far (corrupted ones included), all connections.
    public func forwardedFrames(direction: FaultDirection) -> Int {
        statistics.snapshot.forwarded(direction)
    }

    /// Closes every proxied socket (both sides, like a proxy restart) but keeps listening.
    public func closeAll() async {
        for channel in registry.channels {
            channel.close(promise: nil)
        }
        // Waiting on each close future lets connectionCount read 0 when this returns, because
        // the registry's own close callbacks were registered earlier and so run first.
        for channel in registry.channels {
            try? await channel.closeFuture.get()
        }
    }

    /// Stops listening, closes every connection and releases the proxy's thread.
    public func stop() async throws {
        // Failing to close the listener (already closed by an earlier stop()) must not keep
        // the connections and the thread alive.
        try? await serverChannel.close()
        await closeAll()
        try await group.shutdownGracefully()
    }
}

/// Why the proxy could not start.
public enum FaultProxyError: Error, Sendable {
    /// The listening socket reported no local port.
    case noBoundPort
}
