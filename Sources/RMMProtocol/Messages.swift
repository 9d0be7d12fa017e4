import Foundation

// Message bodies, one struct per wire type. The envelope (`Envelope`) names the type in `t`.

/// What an agent runs: a shell command line or a script body with its interpreter.
public struct CommandSpec: Codable, Sendable, Equatable {
    /// How `text` is run.
    public enum Kind: String, Codable, Sendable { case shell, script }

    public var commandId: String
    public var kind: Kind
    /// The command line for `shell`, the script body for `script`.
    public var text: String
    /// Interpreter path for `script` (the agent's shell when nil).
    public var interpreter: String?
    /// Seconds the command may run before its whole process group is killed.
    public var timeoutSeconds: Double
    /// The start deadline, Unix seconds: the agent refuses to start the command after it (plus the
    /// allowed clock skew). Signed, so a relay can neither extend it nor replay the command later.
    public var expiresAt: Int
    /// The server's Ed25519 signature over `WorkSigning.payload(agentId:position:command:)`, base64.
    public var signature: String?

    public init(commandId: String, kind: Kind, text: String, interpreter: String? = nil, timeoutSeconds: Double,
                expiresAt: Int, signature: String? = nil) {
        self.commandId = commandId
        self.kind = kind
        self.text = text
        self.interpreter = interpreter
        self.timeoutSeconds = timeoutSeconds
        self.expiresAt = expiresAt
        self.signature = signature
    }
}

/// Where one side's outbound stream stands, as the other side saw it.
public struct StreamPosition: Codable, Sendable, Equatable {
    /// The sender's stream id (a new one each time the sender restarts and loses its outbox).
    public var stream: String
    /// Highest sequence number received on that stream.
    public var seq: Int
    public init(stream: String, seq: Int) {
        self.stream = stream
        self.seq = seq
    }
}

/// Server → agent, first frame on every connection: a nonce the agent signs to prove its key.
public struct Challenge: Codable, Sendable, Equatable {
    public var nonce: String
    public var serverVersion: String
    public init(nonce: String, serverVersion: String) {
        self.nonce = nonce
        self.serverVersion = serverVersion
    }
}

/// Facts an agent reports about itself at every connect.
public struct AgentFacts: Codable, Sendable, Equatable {
    public var name: String
    public var hostname: String
    public var os: String
    public var version: String
    public init(name: String, hostname: String, os: String, version: String) {
        self.name = name
        self.hostname = hostname
        self.os = os
        self.version = version
    }
}

/// Agent → server: an enrolled agent authenticates and resumes its session.
public struct Hello: Codable, Sendable, Equatable {
    public var agentId: String
    /// Ed25519 signature (base64) over `AgentProof.payload(nonce:agentId:)`.
    public var signature: String
    public var facts: AgentFacts
    /// The agent's own outbound stream id.
    public var stream: String
    /// The last server message the agent received, if any.
    public var received: StreamPosition?
    public init(agentId: String, signature: String, facts: AgentFacts, stream: String, received: StreamPosition?) {
        self.agentId = agentId
        self.signature = signature
        self.facts = facts
        self.stream = stream
        self.received = received
    }
}

/// Agent → server: a new agent enrolls with a one-time token and its public key.
public struct Enroll: Codable, Sendable, Equatable {
    public var token: String
    /// Raw Ed25519 public key, base64.
    public var publicKey: String
    /// Signature (base64) over `AgentProof.payload(nonce:agentId:)` with agentId = the public key.
    public var signature: String
    public var facts: AgentFacts
    public var stream: String
    public init(token: String, publicKey: String, signature: String, facts: AgentFacts, stream: String) {
        self.token = token
        self.publicKey = publicKey
        self.signature = signature
        self.facts = facts
        self.stream = stream
    }
}

/// Server → agent: authentication succeeded; the session resumes from here.
public struct Welcome: Codable, Sendable, Equatable {
    public var agentId: String
    /// Session epoch: grows with every accepted connection of this agent.
    public var epoch: Int
    /// The server's outbound stream id for this agent.
    public var stream: String
    /// The last agent message the server received on the agent's current stream, if any.
    public var received: StreamPosition?
    /// Server's heartbeat id for this frame; the agent echoes it to prove the downlink.
    public var heartbeatId: Int
    public var config: AgentConfig
    /// Signature over the config (`WorkSigning.payload(agentId:position:config:)`, at `seq` 0 of `stream`).
    public var configSignature: String?
    /// The server's Ed25519 public key, base64; the agent pins it at enrollment and checks it after.
    public var serverKey: String?
    /// The agent's name as the server holds it (the server owns names: its proposal may have been
    /// taken, or an operator renamed it). Optional so that older peers decode the message.
    public var name: String?
    /// The agent URLs of the cluster's nodes as the server knows them now (`NodeURL`), so that an
    /// agent learns a node added later. Optional: older servers send none and older agents ignore it.
    public var nodes: [String]?
    public init(agentId: String, epoch: Int, stream: String, received: StreamPosition?, heartbeatId: Int, config: AgentConfig,
                configSignature: String? = nil, serverKey: String? = nil, name: String? = nil, nodes: [String]? = nil) {
        self.agentId = agentId
        self.epoch = epoch
        self.stream = stream
        self.received = received
        self.heartbeatId = heartbeatId
        self.config = config
        self.configSignature = configSignature
        self.serverKey = serverKey
        self.name = name
        self.nodes = nodes
    }
}

/// Either direction: the data-frame heartbeat that liveness is measured on.
public struct Heartbeat: Codable, Sendable, Equatable {
    /// Sender's heartbeat counter.
    public var id: Int
    /// The latest heartbeat id the sender received from its peer (proof that the peer's frames arrive).
    public var echo: Int?
    /// Sender's wall clock, Unix seconds.
    public var time: Double
    /// Host metrics (agent → server only).
    public var metrics: HostMetrics?
    public init(id: Int, echo: Int?, time: Double, metrics: HostMetrics? = nil) {
        self.id = id
        self.echo = echo
        self.time = time
        self.metrics = metrics
    }
}

/// Server → agent: a new config to apply.
public struct ConfigUpdate: Codable, Sendable, Equatable {
    public var config: AgentConfig
    /// Signature over the config (`WorkSigning.payload(agentId:position:config:)`, at the frame's `seq`).
    public var signature: String?
    public init(config: AgentConfig, signature: String? = nil) {
        self.config = config
        self.signature = signature
    }
}

/// Agent → server: the config version now in force.
public struct ConfigApplied: Codable, Sendable, Equatable {
    public var version: Int
    public init(version: Int) { self.version = version }
}

/// Server → agent: stop a command (kill its process group if it runs, drop it if it waits).
public struct Cancel: Codable, Sendable, Equatable {
    public var commandId: String
    public var reason: String
    /// The server's signature over `WorkSigning.payload(agentId:position:cancel:)`, base64.
    public var signature: String?
    public init(commandId: String, reason: String, signature: String? = nil) {
        self.commandId = commandId
        self.reason = reason
        self.signature = signature
    }
}

/// Agent → server: the command is journaled; it will run at most once.
public struct CommandAck: Codable, Sendable, Equatable {
    public var commandId: String
    /// True when the agent had already journaled this id (a retransmission).
    public var duplicate: Bool
    public init(commandId: String, duplicate: Bool) {
        self.commandId = commandId
        self.duplicate = duplicate
    }
}

/// Agent → server: the command's process started.
public struct CommandStarted: Codable, Sendable, Equatable {
    public var commandId: String
    public var pid: Int32?
    public var time: Double
    public init(commandId: String, pid: Int32?, time: Double) {
        self.commandId = commandId
        self.pid = pid
        self.time = time
    }
}

/// Which standard stream output bytes came from (named so it never clashes with Foundation.OutputStream).
public enum StdStream: String, Codable, Sendable { case stdout, stderr }

/// Agent → server: a piece of live output; `offset` is the byte offset of `data` in its stream.
public struct CommandOutput: Codable, Sendable, Equatable {
    public var commandId: String
    public var stream: StdStream
    public var offset: Int
    public var data: Data
    public init(commandId: String, stream: StdStream, offset: Int, data: Data) {
        self.commandId = commandId
        self.stream = stream
        self.offset = offset
        self.data = data
    }
}

/// Agent → server: how a command ended, with its whole (capped) output.
public struct CommandResult: Codable, Sendable, Equatable {
    public var commandId: String
    /// One of the terminal states the agent may report: succeeded, failed, timed_out, cancelled,
    /// interrupted, rejected.
    public var status: CommandState
    public var exitCode: Int32?
    public var signal: Int32?
    public var reason: String?
    public var stdout: Data
    public var stderr: Data
    public var stdoutTruncated: Bool
    public var stderrTruncated: Bool
    public var startedAt: Double?
    public var finishedAt: Double
    public init(
        commandId: String, status: CommandState, exitCode: Int32? = nil, signal: Int32? = nil, reason: String? = nil,
        stdout: Data = Data(), stderr: Data = Data(), stdoutTruncated: Bool = false, stderrTruncated: Bool = false,
        startedAt: Double? = nil, finishedAt: Double
    ) {
        self.commandId = commandId
        self.status = status
        self.exitCode = exitCode
        self.signal = signal
        self.reason = reason
        self.stdout = stdout
        self.stderr = stderr
        self.stdoutTruncated = stdoutTruncated
        self.stderrTruncated = stderrTruncated
        self.startedAt = startedAt
        self.finishedAt = finishedAt
    }
}

/// Either direction: one piece of a message too long for one frame. Chunks are framing, not messages:
/// they carry no seq of their own; the reassembled envelope does.
public struct Chunk: Codable, Sendable, Equatable {
    /// Identifies the message within the connection.
    public var id: Int
    public var index: Int
    public var count: Int
    /// A slice of the encoded envelope's bytes.
    public var data: Data
    public init(id: Int, index: Int, count: Int, data: Data) {
        self.id = id
        self.index = index
        self.count = count
        self.data = data
    }
}
