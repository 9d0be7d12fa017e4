import ArgumentParser
import Foundation
import Logging
import RMMProtocol
import RMMServer

/// `gururmm server`: runs the server until SIGINT/SIGTERM, which shut it down gracefully.
struct ServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "server", abstract: "Run the GuruRMM server (agent gateway + operator API).")

    @Option(name: .customLong("data-dir"), help: "Where the keys, the admin token and (without --store) the SQLite database live.")
    var dataDirectory: String = "./gururmm-data"

    @Option(name: .customLong("store"), help: "postgres://USER@HOST:PORT/DB[?host=/socket/dir&sslmode=...]: a PostgreSQL database several nodes share, instead of DATA_DIR/gururmm.sqlite. The password comes from GURURMM_STORE_PASSWORD or --store-password-file.")
    var store: String?

    @Option(name: .customLong("store-password-file"), help: "A file whose first line is the PostgreSQL password (with --store).")
    var storePasswordFile: String?

    @Option(name: .customLong("store-connections"), help: "With --store: the width of the pool of database connections the agents' work shares (\(ServerStoreChoice.connectionRange.lowerBound)...\(ServerStoreChoice.connectionRange.upperBound), default \(ServerStoreChoice.defaultConnections)). The operator API has \(ServerStoreChoice.operatorConnections) more of its own; the name lease, the timer lease and LISTEN one each.")
    var storeConnections: Int?

    @Option(name: .customLong("node-name"), help: "This node's name among the nodes of a shared --store (default: the host name); running nodes' names are unique.")
    var nodeName: String?

    @Option(name: .customLong("drain-seconds"), help: "On SIGTERM, how long a node of a shared --store waits for the agents it hands to the other live nodes to connect there before it exits (0...600).")
    var drainSeconds: Double = 30

    @Option(name: .customLong("agent-listen"), help: "HOST:PORT for agent WebSocket connections.")
    var agentListen: String = "127.0.0.1:7443"

    @Option(name: .customLong("api-listen"), help: "HOST:PORT for the operator REST API.")
    var apiListen: String = "127.0.0.1:7080"

    @Option(name: .customLong("metrics-listen"), help: "HOST:PORT for a second listener that serves GET /metrics (Prometheus text format) in plain HTTP and WITHOUT a token: bind it to loopback or a monitoring network only. Without it, /metrics is on the API port and needs a token of any role.")
    var metricsListen: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error.")
    var logLevel: String = "info"

    @Option(name: .customLong("handshake-timeout"), help: "Seconds a new agent-port connection has to finish its HTTP request (else 408), and then the agent to authenticate (else close 4005).")
    var handshakeTimeout: Double = 10

    @Option(name: .customLong("expiry-grace"), help: "Seconds past a command's expiry before it is declared expired.")
    var expiryGrace: Double = 5

    @Flag(name: .customLong("plain"), help: "Serve plain ws:// and http:// instead of TLS. Local use only: commands and tokens travel readable.")
    var plain = false

    @Option(name: .customLong("tls-cert"), help: "PEM certificate (chain) to serve instead of the self-signed one in DATA_DIR/tls.crt.")
    var tlsCertificate: String?

    @Option(name: .customLong("tls-key"), help: "PEM private key for --tls-cert.")
    var tlsKey: String?

    @Option(name: .customLong("enroll-trust"), help: "What enrollment tokens tell agents to trust: 'pin' (this server's TLS key) or 'system' (public CAs, for a TLS-terminating proxy in front).")
    var enrollTrust: String = "pin"

    @Option(name: .customLong("max-unauthenticated-per-address"),
            help: "Connections one address (IPv6: one /64) may hold on the agent port before its agents authenticate; more get HTTP 429.")
    var maxUnauthenticatedPerAddress = ServerSettings().maxUnauthenticatedPerAddress

    @Option(name: .customLong("max-unauthenticated"),
            help: "Connections all addresses together may hold on the agent port before their agents authenticate; more get HTTP 503.")
    var maxUnauthenticated = ServerSettings().maxUnauthenticated

    @Option(name: .customLong("max-failed-auth-per-minute"),
            help: "Failed agent authentications one address may have per minute; then its new connections are closed with 4009 until they age out.")
    var maxFailedAuthPerMinute = ServerSettings().maxFailedAuthPerAddressPerMinute

    @Option(name: .customLong("max-pending-per-agent"),
            help: "Commands one agent may have queued, sent, delivered or running; a request past it for any target creates nothing (HTTP 429).")
    var maxPendingPerAgent = ServerSettings().maxPendingCommandsPerAgent

    @Option(name: .customLong("advertise-url"), help: ArgumentHelp(
        "This node's agent URL as agents should reach it (e.g. wss://node-1.example.com:7443). Sent to agents in the welcome, so they learn the cluster's nodes.",
        valueName: "url"
    ))
    var advertiseURL: String?

    @Option(name: .customLong("peer-url"), help: ArgumentHelp(
        "With --store: where the other nodes reach this node's agent port to forward an agent's long-poll to the node holding its connection (wss://HOST:PORT; ws:// with --plain). Default: the --agent-listen host and port; with a wildcard host (0.0.0.0, ::), this host's name.",
        valueName: "url"
    ))
    var peerURL: String?

    @Option(name: .customLong("trusted-proxy"), help: ArgumentHelp(
        "A load balancer's address or CIDR block (IPv4 or IPv6; repeatable). Only from these may an agent-port connection start with a PROXY protocol header (v1 or v2), and only their X-Forwarded-For is read (on both ports; a malformed one is refused on the agent port); the client address they name is then the one limited, logged and audited.",
        valueName: "cidr"
    ))
    var trustedProxies: [String] = []

    @Option(name: .customLong("node-lease-seconds"), help: ArgumentHelp("The lease on the node's name, in seconds (tests of database outages).", visibility: .hidden))
    var nodeLeaseSeconds: Int?

    func run() async throws {
        let agent = try HostPort(parsing: agentListen, flag: "--agent-listen")
        let api = try HostPort(parsing: apiListen, flag: "--api-listen")
        let metricsAddress = try metricsListen.map { try HostPort(parsing: $0, flag: "--metrics-listen") }
        let logger = makeLogger(label: "gururmm.server", level: logLevel)
        let files = FileLimit.raise()
        if files.error != nil || files.agentCapacity < 10_000 {
            logger.warning("\(files)")
        } else {
            logger.info("\(files)")
        }
        guard handshakeTimeout > 0, handshakeTimeout <= 300 else { throw ValidationError("--handshake-timeout must be 0...300 seconds") }
        guard expiryGrace >= 0, expiryGrace <= 300 else { throw ValidationError("--expiry-grace must be 0...300 seconds") }
        guard drainSeconds >= 0, drainSeconds <= 600 else { throw ValidationError("--drain-seconds must be 0...600 seconds") }
        guard (1...100_000).contains(maxUnauthenticatedPerAddress) else { throw ValidationError("--max-unauthenticated-per-address must be 1...100000") }
        guard (1...1_000_000).contains(maxUnauthenticated) else { throw ValidationError("--max-unauthenticated must be 1...1000000") }
        guard (1...100_000).contains(maxFailedAuthPerMinute) else { throw ValidationError("--max-failed-auth-per-minute must be 1...100000") }
        guard (1...10_000_000).contains(maxPendingPerAgent) else { throw ValidationError("--max-pending-per-agent must be 1...10000000") }
        let tls: ServerTLSMode
        switch (plain, tlsCertificate, tlsKey) {
        case (true, nil, nil): tls = .plain
        case (true, _, _): throw ValidationError("--plain and --tls-cert/--tls-key exclude each other")
        case (false, let certificate?, let key?): tls = .files(certificate: certificate, key: key)
        case (false, nil, nil): tls = .selfSigned
        case (false, _, _): throw ValidationError("--tls-cert and --tls-key go together")
        }
        guard enrollTrust == "pin" || enrollTrust == "system" else { throw ValidationError("--enroll-trust must be 'pin' or 'system' (got '\(enrollTrust)')") }
        guard store != nil || storePasswordFile == nil else { throw ValidationError("--store-password-file goes with --store") }
        if let storeConnections {
            // The SQLite store has no pool: a width given for it is a mistake worth saying.
            guard store != nil else { throw ValidationError("--store-connections goes with --store (the SQLite store has no connection pool)") }
            if let problem = ServerStoreChoice.connectionsProblem(storeConnections) { throw ValidationError(problem) }
        }
        if let peerURL {
            guard store != nil else { throw ValidationError("--peer-url goes with --store") }
            if let problem = PeerURL.problem(peerURL, secure: tls != .plain) { throw ValidationError("--peer-url: '\(peerURL)' is \(problem)") }
        }
        var settings = ServerSettings()
        settings.handshakeTimeout = handshakeTimeout
        settings.expiryGrace = expiryGrace
        settings.drainLimit = .milliseconds(Int64((drainSeconds * 1000).rounded()))
        settings.maxUnauthenticatedPerAddress = maxUnauthenticatedPerAddress
        settings.maxUnauthenticated = maxUnauthenticated
        settings.maxFailedAuthPerAddressPerMinute = maxFailedAuthPerMinute
        settings.maxPendingCommandsPerAgent = maxPendingPerAgent
        if let advertiseURL {
            if let problem = NodeURL.problem(advertiseURL) { throw ValidationError("--advertise-url: '\(advertiseURL)' is \(problem)") }
        }
        settings.cluster = SingleNodeDirectory(advertised: advertiseURL)
        do {
            settings.trustedProxies = try TrustedProxies(parsing: trustedProxies)
        } catch {
            throw ValidationError("--trusted-proxy: \(error)")
        }
        var options = ServerOptions(dataDirectory: dataDirectory, agentHost: agent.host, agentPort: agent.port, apiHost: api.host, apiPort: api.port, settings: settings,
                                    tls: tls, enrollWithSystemTrust: enrollTrust == "system",
                                    store: store.map { .postgres(url: $0, passwordFile: storePasswordFile, connections: storeConnections ?? ServerStoreChoice.defaultConnections) } ?? .sqlite,
                                    nodeName: nodeName ?? ServerOptions.defaultNodeName,
                                    lease: nodeLeaseSeconds.map { NodeLeaseTiming(leaseSeconds: $0) } ?? NodeLeaseTiming(), peerURL: peerURL)
        options.metricsListen = metricsAddress.map { (host: $0.host, port: $0.port) }
        let dataDirectory = self.dataDirectory
        let shared = options.store == .sqlite ? nil : "node \(options.nodeName) on the shared store \(store ?? "")"
        // SIGTERM and SIGINT start the server's own graceful shutdown (its `ServiceGroup`; one
        // that comes while the store opens ends the start), which ends this call normally: exit status 0.
        signal(SIGPIPE, SIG_IGN)
        try await GuruServer.run(options: options, logger: logger, version: GuruRMM.version, stopOnSignals: true) { ready in
            if ready.adminTokenCreated {
                say("Created data directory \(dataDirectory) and an admin API token in \(ready.adminTokenPath) (mode 0600).")
            }
            if ready.adminTokenRevoked == true {
                say("The admin token in \(ready.adminTokenPath) is revoked; started without it. Use another admin token (--token), or move the file away and restart to have a new one made.")
            }
            if ready.adminTokenHeldByCluster == true {
                say("The cluster already has an admin token, so this node made none: copy admin.token from the first node's data directory into \(dataDirectory) (`gururmm cluster export-keys`), or mint one on any node with an admin token (`gururmm tokens create --name NAME --role admin`).")
            }
            say("GuruRMM server ready: agents on \(ready.agentUrl), operator API on \(ready.apiUrl)")
            if let metricsUrl = ready.metricsUrl { say("Prometheus metrics without a token on \(metricsUrl)") }
            if let shared { say("Running as \(shared)") }
            if let pin = ready.tlsPin {
                say("TLS key pin \(pin) (carried by enrollment tokens; `gururmm` finds it in \(dataDirectory)/server.json)")
            } else {
                say("WARNING: --plain: agent and API traffic is not encrypted; use only on a trusted local network.")
            }
        }
    }
}

/// A parsed HOST:PORT listen address.
struct HostPort {
    var host: String
    var port: Int

    init(parsing text: String, flag: String) throws {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw ValidationError("\(flag) must look like HOST:PORT, e.g. 127.0.0.1:7443 (got '\(text)')")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw ValidationError("\(flag) needs a host, e.g. 0.0.0.0:\(port)") }
        self.host = host
        self.port = port
    }
}
