import RMMTransport

/// How a simulated fleet runs: where it connects, how many agents, and how they behave.
public struct FleetSimOptions: Sendable {
    /// The server's agent endpoint (`wss://`, or `ws://` with `allowPlain`).
    public var endpoint: ServerEndpoint
    /// More nodes of the same cluster, tried in turn as the agent does (`ServerRotation`); the same
    /// TLS trust applies to all.
    public var otherServers: [ServerEndpoint] = []
    /// How many simulated agents run.
    public var count: Int
    /// Enrollment token for agents not enrolled yet (a new fleet needs one with `count` uses).
    public var enrollToken: String?
    /// Where the fleet keeps its one identity file.
    public var stateDirectory: String
    /// The version the agents report.
    public var version: String
    /// Accept a plain `ws://` server (local use only).
    public var allowPlain = false
    /// Run commands for real with `/bin/sh -c` instead of answering at once.
    public var fork = false
    /// Real processes running at once over the whole fleet with `fork`; more wait in a queue.
    public var forkConcurrency = 8
    /// Check the server's signatures on commands and configs as the real agent does. Off by
    /// default: it costs an Ed25519 verification per command per agent, in the simulator's CPU,
    /// which a benchmark of the server should not measure.
    public var verifySignatures = false
    /// Agents are named `<prefix><index>`, e.g. `sim-00042`.
    public var namePrefix = "sim-"
    /// Connections being opened and authenticated at once, over all source addresses.
    public var connectConcurrency = 256
    /// The same per source address that agents share: the server answers HTTP 429 past its
    /// `--max-unauthenticated-per-address` (32 by default).
    public var connectsPerAddress = 30
    /// Local addresses to connect from, agents spread over them round robin. Nil: automatic, an
    /// address of 127/8 per agent for a loopback server (see `SourceAddresses.automatic`), the OS
    /// chooses otherwise; empty: the OS chooses.
    public var sourceAddresses: [String]?
    /// Reconnect backoff (full jitter, doubling from `minBackoff` to `maxBackoff`), seconds.
    public var minBackoff = 0.5
    public var maxBackoff = 30.0
    /// Seconds a connection may take from TCP connect to the server's welcome.
    public var handshakeTimeout = 15.0
    /// What a simulated command prints on stdout.
    public var simulatedOutput = "sim\n"
    /// Seconds between sweeps of the shared timer (heartbeats, pings, deadlines), as the real
    /// agent's per-connection ticker.
    public var tickInterval = 0.25

    public init(endpoint: ServerEndpoint, count: Int, enrollToken: String?, stateDirectory: String, version: String) {
        self.endpoint = endpoint
        self.count = count
        self.enrollToken = enrollToken
        self.stateDirectory = stateDirectory
        self.version = version
    }

    /// Problems that make these options unusable, as sentences; empty when valid.
    public func problems() -> [String] {
        var out: [String] = []
        if !(1...1_000_000).contains(count) { out.append("the agent count must be 1...1000000") }
        if connectConcurrency < 1 { out.append("connect concurrency must be at least 1") }
        if connectsPerAddress < 1 { out.append("connects per address must be at least 1") }
        if forkConcurrency < 1 { out.append("fork concurrency must be at least 1") }
        if !(minBackoff >= 0 && maxBackoff >= minBackoff) { out.append("backoff must satisfy 0 <= min <= max") }
        if !(handshakeTimeout > 0) { out.append("the handshake timeout must be positive") }
        if !(tickInterval > 0 && tickInterval <= 5) { out.append("the tick interval must be in (0, 5] seconds") }
        if namePrefix.isEmpty { out.append("the name prefix must not be empty") }
        return out
    }
}
