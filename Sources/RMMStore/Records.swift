import Foundation
import RMMProtocol

/// An enrolled agent as stored. Live connection state lives in the server's session, not here.
public struct AgentRecord: Sendable, Equatable, Codable {
    public var id: String
    public var name: String
    /// Raw Ed25519 public key, base64; the agent proves possession at every connect.
    public var publicKey: String
    public var hostname: String
    public var os: String
    public var version: String
    public var enrolledAt: Date
    /// Grows by one with every accepted connection; the registry routes only to the newest.
    public var epoch: Int
    public var lastSeenAt: Date?
    public var connectedSince: Date?
    /// Last time the agent proved it receives server data frames (acked a seq or echoed a heartbeat).
    public var lastDownlinkAt: Date?
    public var disconnectedAt: Date?
    public var configVersionApplied: Int?
    public var lastPongRttMs: Double?
    public var metrics: HostMetrics?
    public var revokedAt: Date?
    /// The address (`ip:port`, after trusted proxies) the agent's latest accepted connection came
    /// from, stored at each handshake so every node knows it; nil until one is recorded.
    public var remoteAddress: String?

    public init(
        id: String, name: String, publicKey: String, hostname: String, os: String, version: String,
        enrolledAt: Date, epoch: Int = 0, lastSeenAt: Date? = nil, connectedSince: Date? = nil,
        lastDownlinkAt: Date? = nil, disconnectedAt: Date? = nil, configVersionApplied: Int? = nil,
        lastPongRttMs: Double? = nil, metrics: HostMetrics? = nil, revokedAt: Date? = nil, remoteAddress: String? = nil
    ) {
        self.id = id
        self.name = name
        self.publicKey = publicKey
        self.hostname = hostname
        self.os = os
        self.version = version
        self.enrolledAt = enrolledAt
        self.epoch = epoch
        self.lastSeenAt = lastSeenAt
        self.connectedSince = connectedSince
        self.lastDownlinkAt = lastDownlinkAt
        self.disconnectedAt = disconnectedAt
        self.configVersionApplied = configVersionApplied
        self.lastPongRttMs = lastPongRttMs
        self.metrics = metrics
        self.revokedAt = revokedAt
        self.remoteAddress = remoteAddress
    }
}

/// Liveness facts the server's session flushes to the store now and then (not on every frame).
public struct AgentLiveness: Sendable, Equatable {
    public var lastSeenAt: Date?
    public var connectedSince: Date?
    public var lastDownlinkAt: Date?
    public var disconnectedAt: Date?
    public var configVersionApplied: Int?
    public var lastPongRttMs: Double?
    public var metrics: HostMetrics?
    /// The epoch of the connection these facts are about. When set, the flush applies only while
    /// no newer epoch is stored for the agent (as `markSent` checks): a late flush of a connection
    /// that another (on any node) has since replaced must not mark the agent offline or stale.
    /// Nil: applies regardless.
    public var epoch: Int?

    public init(
        lastSeenAt: Date? = nil, connectedSince: Date? = nil, lastDownlinkAt: Date? = nil, disconnectedAt: Date? = nil,
        configVersionApplied: Int? = nil, lastPongRttMs: Double? = nil, metrics: HostMetrics? = nil, epoch: Int? = nil
    ) {
        self.epoch = epoch
        self.lastSeenAt = lastSeenAt
        self.connectedSince = connectedSince
        self.lastDownlinkAt = lastDownlinkAt
        self.disconnectedAt = disconnectedAt
        self.configVersionApplied = configVersionApplied
        self.lastPongRttMs = lastPongRttMs
        self.metrics = metrics
    }
}

/// A command as stored: what to run, where, and where it is in its lifecycle.
public struct CommandRecord: Sendable, Equatable, Codable {
    public var id: String
    public var agentId: String
    /// Commands created by one `run` share a batch id, so a client can follow them together.
    public var batchId: String
    public var kind: CommandSpec.Kind
    public var text: String
    public var interpreter: String?
    public var timeoutSeconds: Double
    public var createdAt: Date
    /// Undelivered by then → `expired`.
    public var expiresAt: Date
    public var state: CommandState
    public var reason: String?
    public var exitCode: Int32?
    public var signal: Int32?
    public var stdoutTruncated: Bool
    public var stderrTruncated: Bool
    public var updatedAt: Date
    /// Who asked for it (operator token name).
    public var createdBy: String
    /// Global change counter value of the last change to this command or its output.
    public var version: Int

    public init(
        id: String, agentId: String, batchId: String, kind: CommandSpec.Kind, text: String, interpreter: String?,
        timeoutSeconds: Double, createdAt: Date, expiresAt: Date, state: CommandState = .queued, reason: String? = nil,
        exitCode: Int32? = nil, signal: Int32? = nil, stdoutTruncated: Bool = false, stderrTruncated: Bool = false,
        updatedAt: Date, createdBy: String, version: Int = 0
    ) {
        self.id = id
        self.agentId = agentId
        self.batchId = batchId
        self.kind = kind
        self.text = text
        self.interpreter = interpreter
        self.timeoutSeconds = timeoutSeconds
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.state = state
        self.reason = reason
        self.exitCode = exitCode
        self.signal = signal
        self.stdoutTruncated = stdoutTruncated
        self.stderrTruncated = stderrTruncated
        self.updatedAt = updatedAt
        self.createdBy = createdBy
        self.version = version
    }
}

/// One step in a command's history: the state it entered, when, and why.
public struct CommandEvent: Sendable, Equatable, Codable {
    public var commandId: String
    public var state: CommandState
    public var at: Date
    public var reason: String?
    public init(commandId: String, state: CommandState, at: Date, reason: String?) {
        self.commandId = commandId
        self.state = state
        self.at = at
        self.reason = reason
    }
}

/// A piece of a command's stored output.
public struct OutputChunk: Sendable, Equatable, Codable {
    public var commandId: String
    public var stream: StdStream
    public var offset: Int
    public var data: Data
    public var version: Int
    public init(commandId: String, stream: StdStream, offset: Int, data: Data, version: Int) {
        self.commandId = commandId
        self.stream = stream
        self.offset = offset
        self.data = data
        self.version = version
    }
}

/// What changed in a batch after a given version: commands whose row changed and new output.
public struct BatchChanges: Sendable, Equatable {
    public var version: Int
    public var commands: [CommandRecord]
    public var output: [OutputChunk]
    public init(version: Int, commands: [CommandRecord], output: [OutputChunk]) {
        self.version = version
        self.commands = commands
        self.output = output
    }
}

/// How a command ends, as applied by `DeliveryStore.finish`.
public struct CommandOutcome: Sendable, Equatable {
    public var state: CommandState
    public var reason: String?
    public var exitCode: Int32?
    public var signal: Int32?
    /// The agent's whole captured output; the store keeps what it had and appends the missing tail.
    public var stdout: Data
    public var stderr: Data
    public var stdoutTruncated: Bool
    public var stderrTruncated: Bool

    public init(
        state: CommandState, reason: String? = nil, exitCode: Int32? = nil, signal: Int32? = nil,
        stdout: Data = Data(), stderr: Data = Data(), stdoutTruncated: Bool = false, stderrTruncated: Bool = false
    ) {
        self.state = state
        self.reason = reason
        self.exitCode = exitCode
        self.signal = signal
        self.stdout = stdout
        self.stderr = stderr
        self.stdoutTruncated = stdoutTruncated
        self.stderrTruncated = stderrTruncated
    }
}

/// An operator API token as stored (the secret itself is never stored, only its SHA-256).
public struct APITokenRecord: Sendable, Equatable, Codable {
    public var id: String
    public var name: String
    public var role: String
    public var createdAt: Date
    public var revokedAt: Date?
    public init(id: String, name: String, role: String, createdAt: Date, revokedAt: Date? = nil) {
        self.id = id
        self.name = name
        self.role = role
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }
}

/// An enrollment token as stored (hash only).
public struct EnrollmentTokenRecord: Sendable, Equatable, Codable {
    public var id: String
    public var createdAt: Date
    public var expiresAt: Date?
    public var usesLeft: Int
    public var revokedAt: Date?
    public init(id: String, createdAt: Date, expiresAt: Date?, usesLeft: Int, revokedAt: Date? = nil) {
        self.id = id
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.usesLeft = usesLeft
        self.revokedAt = revokedAt
    }
}

extension EnrollmentTokenRecord {
    /// Why this token cannot enroll an agent at `now` (revoked, expired, used up, in that order),
    /// or nil: the one rule enrollment and `gururmm doctor`'s check share.
    public func refusal(now: Date) -> StoreError? {
        if revokedAt != nil { return .enrollmentTokenRevoked }
        if let expiresAt, expiresAt <= now { return .enrollmentTokenExpired }
        if usesLeft <= 0 { return .enrollmentTokenUsedUp }
        return nil
    }
}

/// Where a command stands in a batch's pages: its change version and its row (creation order).
public struct BatchPosition: Sendable, Equatable {
    public var version: Int
    public var row: Int64
    public init(version: Int, row: Int64) {
        self.version = version
        self.row = row
    }
}

/// A command read from a batch page, with the position to continue after it.
public struct PositionedCommand: Sendable, Equatable {
    public var position: BatchPosition
    public var record: CommandRecord
}

/// The change versions of output to read: after `after`, up to and including `through`.
public struct OutputVersions: Sendable, Equatable {
    public var after: Int
    public var through: Int
    public init(after: Int, through: Int) {
        self.after = after
        self.through = through
    }

    /// Every stored chunk.
    public static let all = OutputVersions(after: -1, through: Int.max)
}

/// One read of output chunks: the chunks, and whether more may follow the last of them.
public struct OutputChunkPage: Sendable, Equatable {
    public var chunks: [OutputChunk]
    /// The read stopped at its chunk or byte limit with at least one more chunk to go.
    public var more: Bool
    public init(chunks: [OutputChunk], more: Bool) {
        self.chunks = chunks
        self.more = more
    }
}

/// Both output streams of one command, whole.
public struct WholeOutput: Sendable, Equatable {
    public var commandId: String
    public var stdout: Data
    public var stderr: Data
    public init(commandId: String, stdout: Data, stderr: Data) {
        self.commandId = commandId
        self.stdout = stdout
        self.stderr = stderr
    }
}

/// Where a page of output chunks ended: the next page starts after this chunk.
public struct OutputCursor: Sendable, Equatable {
    public var commandId: String
    /// The stream's raw value (`stdout`, `stderr`).
    public var stream: String
    public var offset: Int
    public init(commandId: String, stream: String, offset: Int) {
        self.commandId = commandId
        self.stream = stream
        self.offset = offset
    }

    /// The position of `chunk`.
    public init(after chunk: OutputChunk) {
        self.init(commandId: chunk.commandId, stream: chunk.stream.rawValue, offset: chunk.offset)
    }
}

/// Where a page of agents resumes: the name and id of the last agent of the previous page.
public struct AgentPageCursor: Sendable, Equatable {
    public var name: String
    public var id: String

    public init(name: String, id: String) {
        self.name = name
        self.id = id
    }

    public init(after agent: AgentRecord) {
        self.init(name: agent.name, id: agent.id)
    }
}
