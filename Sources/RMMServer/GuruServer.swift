import Foundation
import Hummingbird
import HummingbirdTLS
import Logging
import NIOSSL
import RMMAPI
import RMMProtocol
import RMMStore
import ServiceLifecycle
import UnixSignals

/// Where and how a server runs.
public struct ServerOptions: Sendable {
    public var dataDirectory: String
    public var agentHost: String
    public var agentPort: Int
    public var apiHost: String
    public var apiPort: Int
    public var settings: ServerSettings
    /// TLS on both listeners (self-signed by default), or plain text for local use.
    public var tls: ServerTLSMode
    /// Enrollment tokens tell agents to pin the certificate's key (default) or to trust the
    /// system's CAs (a TLS-terminating proxy with a public certificate in front of the server).
    public var enrollWithSystemTrust: Bool
    /// The SQLite file in the data directory (one node), or a PostgreSQL database nodes share.
    public var store: ServerStoreChoice
    /// This node's name among the nodes of a shared store (unique among running ones).
    public var nodeName: String
    /// How long a node's lease on its name lasts, and how often it is renewed (a shared store only).
    public var lease: NodeLeaseTiming
    /// Where the other nodes reach this node's agent port to forward long-polls (`PeerURL`); nil:
    /// `PeerURL.byDefault` (a shared store only).
    public var peerURL: String?
    /// Where a second listener serves `/metrics` without a token (plain HTTP); nil: none, and
    /// `/metrics` is only on the API port, behind a token.
    public var metricsListen: (host: String, port: Int)?

    public init(dataDirectory: String = "./gururmm-data", agentHost: String = "127.0.0.1", agentPort: Int = 7443,
                apiHost: String = "127.0.0.1", apiPort: Int = 7080, settings: ServerSettings = ServerSettings(),
                tls: ServerTLSMode = .selfSigned, enrollWithSystemTrust: Bool = false, store: ServerStoreChoice = .sqlite,
                nodeName: String = ServerOptions.defaultNodeName, lease: NodeLeaseTiming = NodeLeaseTiming(),
                peerURL: String? = nil) {
        self.dataDirectory = dataDirectory
        self.agentHost = agentHost
        self.agentPort = agentPort
        self.apiHost = apiHost
        self.apiPort = apiPort
        self.settings = settings
        self.tls = tls
        self.enrollWithSystemTrust = enrollWithSystemTrust
        self.store = store
        self.nodeName = nodeName
        self.lease = lease
        self.peerURL = peerURL
    }

    /// The host's name.
    public static var defaultNodeName: String { ClusterJoin.hostName() }
}

/// The GuruRMM server: agent gateway, operator API and timers, over one store.
public enum GuruServer {
    /// Runs until the task is cancelled or, with `stopOnSignals`, until SIGTERM/SIGINT starts a graceful
    /// shutdown (stop accepting, close agent sessions with `serverShutdown`, return normally); a signal
    /// before the services run returns without starting them. Calls `onReady` once both listeners
    /// are bound, and writes the same facts to `DATA_DIR/server.json`.
    public static func run(options: ServerOptions, logger: Logger, version: String, stopOnSignals: Bool = false,
                           onReady: @escaping @Sendable (ServerReady) -> Void) async throws {
        // Before anything else: a signal while the store opens is a clean stop, not the default action.
        let stops = stopOnSignals ? await StopSignals.trap([.sigterm, .sigint], logger: logger) : nil
        defer { stops?.stop() }
        let data = try DataDirectory(path: options.dataDirectory)
        // Keys first: a start that cannot use them stops before it creates anything else.
        let signingKey = try data.ensureSigningKey()
        // Every node has the cluster's signing key, and agents only its public half: the key of
        // the proof that a long-poll was forwarded by a node.
        let clusterSecret = signingKey.rawRepresentation
        let signer = WorkSigner(key: signingKey)
        let tls = try ServerTLS.load(options.tls, dataDirectory: data)
        if options.store != .sqlite, let problem = ClusterJoin.problem(nodeName: options.nodeName) { throw StartupError(problem) }
        let opened = try await OpenedStore.open(options, data: data, environment: ProcessInfo.processInfo.environment, logger: logger)
        defer { opened.close() }
        let store = opened.store
        let metrics = ServerMetrics()
        (store as? any CommitTimedStore)?.observeCommits(metrics)
        let enrollTrust = tls.map { options.enrollWithSystemTrust ? "system" : $0.pin }
        // A shared store: this node's keys must be the cluster's and its name free, checked before
        // the admin token file is used, so a node refused adds nothing.
        let membership: NodeMembership?
        if opened.shared {
            try await ClusterJoin.checkIdentity(ClusterIdentity(signingKey: signer.publicKey, tlsTrust: enrollTrust ?? "plain"),
                                                node: options.nodeName, store: store, dataDirectory: data.path)
            membership = try await NodeMembership.join(store: store, name: options.nodeName, timing: options.lease, logger: logger)
        } else {
            membership = nil
        }
        let (adminToken, config) = try await membership.released(onError: logger) {
            (try await data.ensureAdminToken(store: store, shared: opened.shared), try await store.config())
        }
        if adminToken == .revoked {
            logger.warning("the admin token in \(data.adminTokenPath) was revoked; starting without it (it is not brought back). Use another admin token, or move the file away and restart to have a new one made")
        }
        if adminToken == .heldByCluster {
            logger.notice("the cluster already has an admin token; this node made none. Copy admin.token from the first node's data directory into \(data.path) (`gururmm cluster export-keys`), or mint a token with an admin token on any node (POST /api/v1/tokens)")
        }
        let adminTokenCreated = adminToken == .created
        let adminTokenPath = data.adminTokenPath
        let feed = ChangeFeed(maximumWait: opened.maximumFeedWait)
        // Agents refuse a config outside the protocol's ranges; serving one would keep every
        // agent from connecting, so it stops the start instead, saying which field and how to fix it.
        if let problem = config.problems().first {
            await membership?.release(logger: logger)
            throw StartupError("the stored agent config (version \(config.version)) is not valid: \(problem). Every agent would refuse it. Stop the server, then reset it to the defaults with `\(opened.manualSQL("DELETE FROM settings WHERE key = 'agent_config'"))` and set it again with PUT /api/v1/config")
        }
        let clock = SessionClock(interval: options.settings.tickInterval)
        var settings = options.settings
        // On a shared store the welcome's node list comes from the nodes' leases.
        var directoryRefresh: [any Service] = []
        if opened.shared {
            let directory = LeaseNodeDirectory(own: settings.cluster.agentURLs())
            settings.cluster = directory
            directoryRefresh = [LeaseNodeDirectoryService(directory: directory, store: store, logger: logger)]
        }
        let registry = SessionRegistry(store: store, feed: feed, settings: settings, config: config, signer: signer, logger: logger,
                                       clock: clock, signals: opened.signals, metrics: metrics)
        let commands = CommandService(store: store, registry: registry, feed: feed, settings: settings, logger: logger)
        let core = ServerCore(store: store, registry: registry, commands: commands, feed: feed, settings: settings,
                              enrollTrust: enrollTrust, logger: logger)
        let handshake = AgentHandshake(
            store: store, registry: registry, settings: settings, logger: logger, serverVersion: version,
            limiter: AddressLimiter(settings: settings), tokens: store
        )
        let forwarding = membership.map {
            PollForwarding(instance: $0.claim.instance, store: store, clusterSecret: clusterSecret, tlsPin: tls?.pin, logger: logger)
        } ?? .singleNode(logger: logger)
        let gateway = AgentGateway(host: options.agentHost, port: options.agentPort, tls: try tls.map { try NIOSSLContext(configuration: $0.configuration) },
                                   handshake: handshake, forwarding: forwarding, logger: logger)
        let (apiPorts, apiPortContinuation) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: try OperatorAPI.router(core: core, tls: tls != nil),
            server: try tls.map { try .tls(.http1(), tlsConfiguration: $0.configuration) } ?? .http1(),
            configuration: .init(address: .hostname(options.apiHost, port: options.apiPort), serverName: "gururmm"),
            onServerRunning: { channel in
                apiPortContinuation.yield(channel.localAddress?.port ?? options.apiPort)
                apiPortContinuation.finish()
            },
            logger: logger
        )
        let (metricsListener, metricsPorts) = Self.metricsListener(options.metricsListen, core: core, logger: logger)
        let secure = tls != nil
        let ready = ReadinessService(agentPorts: gateway.boundPorts, apiPorts: apiPorts, makeReady: { agentPort, apiPort in
            var ready = ServerReady(
                agentPort: agentPort, apiPort: apiPort,
                agentUrl: "\(secure ? "wss" : "ws")://\(Self.urlHost(options.agentHost)):\(agentPort)/agent",
                apiUrl: "\(secure ? "https" : "http")://\(Self.urlHost(options.apiHost)):\(apiPort)",
                tlsPin: tls?.pin, adminTokenPath: adminTokenPath, adminTokenCreated: adminTokenCreated,
                adminTokenRevoked: adminToken == .revoked ? true : nil, pid: getpid()
            )
            ready.adminTokenHeldByCluster = adminToken == .heldByCluster ? true : nil
            if let listen = options.metricsListen, let metricsPort = await metricsPorts?.first(where: { _ in true }) {
                ready.metricsUrl = "http://\(Self.urlHost(listen.host)):\(metricsPort)\(MetricsEndpoint.path)"
            }
            if let membership {
                let peerURL = options.peerURL ?? PeerURL.byDefault(listenHost: options.agentHost, port: agentPort, secure: secure, hostName: ClusterJoin.hostName())
                try await membership.advertise(agentUrl: ready.agentUrl, apiUrl: ready.apiUrl, peerUrl: peerURL)
                logger.info("other nodes forward long-polls to this node at \(peerURL)")
            }
            try data.writeReady(ready)
            return ready
        }, onReady: onReady)
        var ticker = SessionTicker(clock: clock, store: store, commands: commands, settings: settings, logger: logger)
        ticker.leadership = opened.leadership
        let trimmer = HeapTrimmer(interval: settings.heapTrimInterval, growthBytes: settings.heapTrimGrowthBytes, logger: logger)
        // A cluster node hands its agents to the other nodes as it stops; a single node has no one to hand them to.
        let drain = SessionDrain(store: registry.clustered ? store : nil, nodeName: options.nodeName, limit: settings.drainLimit, logger: logger)
        // Graceful shutdown runs in reverse order: the long-polls answer with what they have,
        // readiness, the API (in-flight requests finish), the gateway (stops accepting, closes
        // sessions with `serverShutdown`, ends downlink polls), then the timers.
        // The store is released once every service has returned, so all their writes are in it.
        var configuration = ServiceGroupConfiguration(
            services: (membership.map { [$0.leaseService] } ?? []) + opened.services + directoryRefresh + Self.clusterServices(registry: registry, store: store, feed: feed, settings: settings, logger: logger) + [
                SessionTickerService(ticker: ticker),
                HeapTrimmerService(trimmer: trimmer),
                AgentGatewayService(gateway: gateway, registry: registry, drain: drain),
                app,
            ] + metricsListener + [
                ready,
                LongPollStopService(feed: feed),
            ] + (membership.map { [$0.drainService] } ?? []),
            // `stops` turns the signals into the group's graceful shutdown.
            gracefulShutdownSignals: [],
            logger: logger
        )
        // A graceful stop must end even if something in it hangs: past this the group cancels
        // every service.
        // A draining node may take its drain's limit on top.
        configuration.maximumGracefulShutdownDuration = Self.maximumShutdown + (registry.clustered ? settings.drainLimit : .zero)
        let group = ServiceGroup(configuration: configuration)
        if let stops, !stops.shouldRun(group) {
            await membership?.release(logger: logger)
            logger.info("server stopped before it started serving")
            return
        }
        try await group.run()
        logger.info("server stopped")
    }

    /// The `--metrics-listen` listener as a service, and the stream that gives its bound port;
    /// none without the option.
    private static func metricsListener(_ listen: (host: String, port: Int)?, core: ServerCore,
                                        logger: Logger) -> ([any Service], AsyncStream<Int>?) {
        guard let listen else { return ([], nil) }
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let listener = Application(
            router: MetricsEndpoint.listenerRouter(core: core),
            configuration: .init(address: .hostname(listen.host, port: listen.port), serverName: "gururmm"),
            onServerRunning: { channel in
                continuation.yield(channel.localAddress?.port ?? listen.port)
                continuation.finish()
            },
            logger: logger
        )
        return ([listener], ports)
    }

    /// Longest graceful stop before the server's services are cancelled.
    static let maximumShutdown: Duration = .seconds(20)

    /// A listen host as it goes in a URL: the wildcard becomes loopback, IPv6 gets brackets.
    private static func urlHost(_ host: String) -> String {
        switch host {
        case "0.0.0.0", "": return "127.0.0.1"
        case "::": return "[::1]"
        default: return host.contains(":") ? "[\(host)]" : host
        }
    }
}
