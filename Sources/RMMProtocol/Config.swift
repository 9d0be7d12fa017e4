/// The versioned settings the server pushes to an agent on connect and on change (`config_update`).
public struct AgentConfig: Codable, Sendable, Equatable {
    /// Monotonic version; the agent confirms the version it applied with `config_applied`.
    public var version: Int
    /// Seconds between heartbeat data frames, both directions.
    public var heartbeatInterval: Double
    /// Seconds without any inbound data frame after which a side closes the connection.
    public var heartbeatDeadline: Double
    /// Seconds between WebSocket pings (control-frame evidence, never proof of delivery).
    public var pingInterval: Double
    /// Commands the agent runs at once.
    public var maxConcurrentCommands: Int
    /// Commands the agent holds waiting for a slot before it rejects new ones.
    public var maxQueuedCommands: Int
    /// Bytes of stdout and of stderr kept per command; the rest is dropped and marked truncated.
    public var outputCapBytes: Int
    /// Size of streamed `output` chunks.
    public var outputChunkBytes: Int
    /// Seconds the server waits for `command_ack` before it retransmits.
    public var ackDeadline: Double
    /// Largest message sent unsplit; longer messages travel as `chunk` frames.
    public var maxMessageBytes: Int
    /// Free-form labels an operator attaches to the agent (site, role, ...).
    public var labels: [String: String]
    /// Interpreters an operator allows for scripts, by path.
    public var allowedInterpreters: [String]
    /// Environment variables set for every command the agent runs.
    public var commandEnvironment: [String: String]
    /// Seconds between host metrics on the agent's heartbeats (heartbeats still go every
    /// `heartbeatInterval`); nil means `defaultMetricsInterval`. Optional so a config stored or
    /// signed before the field existed reads and verifies unchanged.
    public var metricsInterval: Double?

    /// Metrics once a minute unless an operator asks for more: they are most of a heartbeat's keys,
    /// and decoding heartbeats is a large share of what an idle fleet costs the server.
    public static let defaultMetricsInterval = 60.0

    /// The metrics interval in effect: never shorter than the heartbeat that carries them.
    public var effectiveMetricsInterval: Double {
        max(heartbeatInterval, metricsInterval ?? Self.defaultMetricsInterval)
    }

    /// The defaults every new agent starts from. Pings are evidence only (liveness is the data
    /// path's heartbeats; a diagnosis sends its own ping), so they go once a minute: at 15 s, each
    /// side's ping and the other's pong were half the frames, syscalls and CPU of an idle fleet.
    public static let defaults = AgentConfig(
        version: 1, heartbeatInterval: 15, heartbeatDeadline: 45, pingInterval: 60,
        maxConcurrentCommands: 4, maxQueuedCommands: 256, outputCapBytes: 4 << 20,
        outputChunkBytes: 16 * 1024, ackDeadline: 10, maxMessageBytes: WireLimits.defaultChunkBytes,
        labels: [:],
        allowedInterpreters: ["/bin/sh", "/bin/bash", "/usr/bin/env", "/usr/bin/python3", "/usr/bin/pwsh"],
        commandEnvironment: ["GURURMM": "1"]
    )

    public init(
        version: Int, heartbeatInterval: Double, heartbeatDeadline: Double, pingInterval: Double,
        maxConcurrentCommands: Int, maxQueuedCommands: Int, outputCapBytes: Int, outputChunkBytes: Int,
        ackDeadline: Double, maxMessageBytes: Int, labels: [String: String],
        allowedInterpreters: [String], commandEnvironment: [String: String], metricsInterval: Double? = nil
    ) {
        self.version = version
        self.heartbeatInterval = heartbeatInterval
        self.heartbeatDeadline = heartbeatDeadline
        self.pingInterval = pingInterval
        self.maxConcurrentCommands = maxConcurrentCommands
        self.maxQueuedCommands = maxQueuedCommands
        self.outputCapBytes = outputCapBytes
        self.outputChunkBytes = outputChunkBytes
        self.ackDeadline = ackDeadline
        self.maxMessageBytes = maxMessageBytes
        self.labels = labels
        self.allowedInterpreters = allowedInterpreters
        self.commandEnvironment = commandEnvironment
        self.metricsInterval = metricsInterval
    }

    /// Problems that make a config unusable, as sentences an operator can act on; empty when valid.
    public func problems() -> [String] {
        var out: [String] = []
        if !(1...WireRange.maxCount).contains(version) { out.append("version must be 1...\(WireRange.maxCount)") }
        if !(1...3600).contains(heartbeatInterval) { out.append("heartbeat_interval must be 1...3600 seconds") }
        // Written so NaN fails too (every comparison with NaN is false).
        if !(heartbeatDeadline >= heartbeatInterval * 2 && heartbeatDeadline <= 86_400) {
            out.append("heartbeat_deadline must be at least twice heartbeat_interval and at most 86400 seconds")
        }
        if !(1...3600).contains(pingInterval) { out.append("ping_interval must be 1...3600 seconds") }
        if let metricsInterval, !(1...86_400).contains(metricsInterval) { out.append("metrics_interval must be 1...86400 seconds") }
        if !(1...256).contains(maxConcurrentCommands) { out.append("max_concurrent_commands must be 1...256") }
        if !(0...100_000).contains(maxQueuedCommands) { out.append("max_queued_commands must be 0...100000") }
        if !(1024...(8 << 20)).contains(outputCapBytes) { out.append("output_cap_bytes must be 1 KiB...8 MiB") }
        if !(512...(1 << 20)).contains(outputChunkBytes) { out.append("output_chunk_bytes must be 512 B...1 MiB") }
        if !(1...3600).contains(ackDeadline) { out.append("ack_deadline must be 1...3600 seconds") }
        if !PacketLimits.messageCapRange.contains(maxMessageBytes) {
            out.append("max_message_bytes must be 1 KiB...\(PacketLimits.maxMessageCap) bytes")
        }
        if labels.count > 256 || labels.contains(where: { $0.key.utf8.count > 256 || $0.value.utf8.count > 4096 }) {
            out.append("labels must be at most 256, each key at most 256 and each value at most 4096 bytes")
        }
        if allowedInterpreters.count > 256 || allowedInterpreters.contains(where: { $0.utf8.count > 4096 }) {
            out.append("allowed_interpreters must hold at most 256 paths of at most 4096 bytes")
        }
        if commandEnvironment.count > 1024 || commandEnvironment.contains(where: { $0.key.utf8.count > 4096 || $0.value.utf8.count > 65_536 }) {
            out.append("command_environment must hold at most 1024 variables, names at most 4096 and values at most 65536 bytes")
        }
        return out
    }
}
