import Foundation
import RMMProtocol

// The operator REST API's JSON shapes (snake_case on the wire, ISO 8601 dates). Documented in openapi.yaml.

/// One agent as the API shows it.
public struct AgentView: Codable, Sendable {
    public var id: String
    public var name: String
    public var status: AgentStatus
    public var hostname: String
    public var os: String
    public var version: String
    public var enrolledAt: Date
    public var epoch: Int
    public var connectedSince: Date?
    public var lastSeenAt: Date?
    /// Last time the agent acknowledged a server data frame: what `online` is computed from.
    public var lastDownlinkAt: Date?
    public var disconnectedAt: Date?
    public var configVersion: Int
    public var configVersionApplied: Int?
    public var lastPongRttMs: Double?
    public var metrics: HostMetrics?
    public var pendingOutbound: Int
    public var remoteAddress: String?
    public var lastCloseReason: String?
    /// Verdict of the latest link diagnosis, if any.
    public var linkVerdict: LinkVerdict?
    /// How the server currently sends data frames to this agent.
    public var downlinkMode: DownlinkMode?
    /// The newest entry of the agent's link verdict history (any source), without its evidence.
    public var verdict: VerdictView?
    /// Why the agent uses its downlink mode ("poll: WebSocket data frames filtered on this path
    /// since T (at the challenge, from the handshake (claimed by the agent))"); nil when not connected.
    public var downlinkReason: String?

    /// Every field, as the server fills it in.
    public init(
        id: String, name: String, status: AgentStatus, hostname: String, os: String, version: String, enrolledAt: Date, epoch: Int,
        connectedSince: Date?, lastSeenAt: Date?, lastDownlinkAt: Date?, disconnectedAt: Date?, configVersion: Int,
        configVersionApplied: Int?, lastPongRttMs: Double?, metrics: HostMetrics?, pendingOutbound: Int, remoteAddress: String?,
        lastCloseReason: String?, linkVerdict: LinkVerdict?, downlinkMode: DownlinkMode?, verdict: VerdictView?, downlinkReason: String?
    ) {
        self.id = id
        self.name = name
        self.status = status
        self.hostname = hostname
        self.os = os
        self.version = version
        self.enrolledAt = enrolledAt
        self.epoch = epoch
        self.connectedSince = connectedSince
        self.lastSeenAt = lastSeenAt
        self.lastDownlinkAt = lastDownlinkAt
        self.disconnectedAt = disconnectedAt
        self.configVersion = configVersion
        self.configVersionApplied = configVersionApplied
        self.lastPongRttMs = lastPongRttMs
        self.metrics = metrics
        self.pendingOutbound = pendingOutbound
        self.remoteAddress = remoteAddress
        self.lastCloseReason = lastCloseReason
        self.linkVerdict = linkVerdict
        self.downlinkMode = downlinkMode
        self.verdict = verdict
        self.downlinkReason = downlinkReason
    }
}

/// One step of a command's history.
public struct CommandEventView: Codable, Sendable {
    public var state: CommandState
    public var at: Date
    public var reason: String?

    /// Every field, as the server fills it in.
    public init(state: CommandState, at: Date, reason: String?) {
        self.state = state
        self.at = at
        self.reason = reason
    }
}

/// One command as the API shows it.
public struct CommandView: Codable, Sendable {
    public var id: String
    public var agentId: String
    public var agent: String?
    public var batchId: String
    public var kind: CommandSpec.Kind
    public var text: String
    public var interpreter: String?
    public var state: CommandState
    public var terminal: Bool
    public var reason: String?
    public var exitCode: Int32?
    public var signal: Int32?
    public var createdAt: Date
    public var updatedAt: Date
    public var expiresAt: Date
    public var timeoutSeconds: Double
    public var createdBy: String
    public var stdoutTruncated: Bool
    public var stderrTruncated: Bool
    public var stdout: String?
    public var stderr: String?
    public var events: [CommandEventView]?

    public init(
        id: String, agentId: String, agent: String?, batchId: String, kind: CommandSpec.Kind, text: String, interpreter: String?,
        state: CommandState, terminal: Bool, reason: String?, exitCode: Int32?, signal: Int32?, createdAt: Date, updatedAt: Date,
        expiresAt: Date, timeoutSeconds: Double, createdBy: String, stdoutTruncated: Bool, stderrTruncated: Bool,
        stdout: String?, stderr: String?, events: [CommandEventView]? = nil
    ) {
        self.id = id
        self.agentId = agentId
        self.agent = agent
        self.batchId = batchId
        self.kind = kind
        self.text = text
        self.interpreter = interpreter
        self.state = state
        self.terminal = terminal
        self.reason = reason
        self.exitCode = exitCode
        self.signal = signal
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.expiresAt = expiresAt
        self.timeoutSeconds = timeoutSeconds
        self.createdBy = createdBy
        self.stdoutTruncated = stdoutTruncated
        self.stderrTruncated = stderrTruncated
        self.stdout = stdout
        self.stderr = stderr
        self.events = events
    }
}

/// The commands one run request created.
public struct RunResponse: Codable, Sendable {
    /// One command the run created, and its agent.
    public struct Target: Codable, Sendable {
        public var commandId: String
        public var agentId: String
        public var agent: String

        /// Every field, as the server fills it in.
        public init(commandId: String, agentId: String, agent: String) {
            self.commandId = commandId
            self.agentId = agentId
            self.agent = agent
        }
    }
    public var batchId: String
    /// Every command created, in creation order; empty when the request set `list_commands` false.
    public var commands: [Target]
    /// How many commands were created: only when the request set `list_commands` false.
    public var commandCount: Int?

    /// Every field, as the server fills it in.
    public init(batchId: String, commands: [Target], commandCount: Int? = nil) {
        self.batchId = batchId
        self.commands = commands
        self.commandCount = commandCount
    }
}

/// A piece of output in a batch change feed; `data` is base64.
public struct OutputView: Codable, Sendable {
    /// The command's agent by name: only in a compact events stream (`view=compact`).
    public var agent: String?
    public var commandId: String
    public var stream: StdStream
    public var offset: Int
    public var data: Data

    public init(agent: String? = nil, commandId: String, stream: StdStream, offset: Int, data: Data) {
        self.agent = agent
        self.commandId = commandId
        self.stream = stream
        self.offset = offset
        self.data = data
    }
}

/// What changed in a batch since a version (long-poll answer).
public struct BatchChangesView: Codable, Sendable {
    public var version: Int
    public var done: Bool
    public var commands: [CommandView]
    public var output: [OutputView]

    /// Every field, as the server fills it in.
    public init(version: Int, done: Bool, commands: [CommandView], output: [OutputView]) {
        self.version = version
        self.done = done
        self.commands = commands
        self.output = output
    }
}

/// An enrollment token. `token` (the secret) appears only in the answer that created it; the
/// server keeps just its hash.
public struct EnrollmentTokenView: Codable, Sendable {
    public var id: String
    public var token: String?
    public var createdAt: Date
    public var expiresAt: Date?
    public var usesLeft: Int
    public var revoked: Bool
    public var revokedAt: Date?

    public init(id: String, token: String?, createdAt: Date, expiresAt: Date?, usesLeft: Int, revoked: Bool, revokedAt: Date?) {
        self.id = id
        self.token = token
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.usesLeft = usesLeft
        self.revoked = revoked
        self.revokedAt = revokedAt
    }
}

/// Body of `POST /api/v1/enrollment-tokens`.
public struct EnrollmentTokenRequest: Codable, Sendable {
    public var expiresSeconds: Double?
    public var uses: Int?
    public init(expiresSeconds: Double?, uses: Int?) {
        self.expiresSeconds = expiresSeconds
        self.uses = uses
    }
}

/// Body of `POST /api/v1/commands/{id}/cancel` and `POST /api/v1/agents/{id}/evict`.
public struct ReasonRequest: Codable, Sendable {
    /// Longest reason accepted, bytes of UTF-8.
    public static let maxBytes = 1024
    public var reason: String?
    public init(reason: String?) { self.reason = reason }
}

/// Simple acknowledgement.
public struct OKView: Codable, Sendable {
    public var ok: Bool
    public var message: String

    /// Every field, as the server fills it in.
    public init(ok: Bool, message: String) {
        self.ok = ok
        self.message = message
    }
}

/// The JSON coders the API and the CLI share.
public enum APICoding {
    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}

/// Body of `POST /api/v1/agents/{agent}/rename`.
public struct RenameRequest: Codable, Sendable {
    public var name: String
    public init(name: String) { self.name = name }
}

/// Body of `POST /api/v1/tokens`.
public struct APITokenRequest: Codable, Sendable {
    public var name: String
    public var role: String
    public init(name: String, role: String) {
        self.name = name
        self.role = role
    }
}

/// An operator API token; `token` (the secret) appears only in the answer that created it.
public struct APITokenView: Codable, Sendable {
    public var id: String
    public var name: String
    public var role: String
    public var createdAt: Date
    public var revokedAt: Date?
    public var token: String?

    public init(id: String, name: String, role: String, createdAt: Date, revokedAt: Date?, token: String?) {
        self.id = id
        self.name = name
        self.role = role
        self.createdAt = createdAt
        self.revokedAt = revokedAt
        self.token = token
    }
}

/// The fleet at a glance: how many agents are in each state (`GET /api/v1/fleet`).
public struct FleetSummaryView: Codable, Sendable {
    public var enrolled: Int
    public var online: Int
    public var degraded: Int
    public var offline: Int
    public var revoked: Int
    /// Commands the server holds for agents and has not seen acknowledged, over all sessions.
    public var pendingOutbound: Int

    /// Every field, as the server fills it in.
    public init(enrolled: Int, online: Int, degraded: Int, offline: Int, revoked: Int, pendingOutbound: Int) {
        self.enrolled = enrolled
        self.online = online
        self.degraded = degraded
        self.offline = offline
        self.revoked = revoked
        self.pendingOutbound = pendingOutbound
    }
}

/// A batch's progress by counts (`GET /api/v1/batches/{id}`): cheap at any fan-out size.
public struct BatchSummaryView: Codable, Sendable {
    public var batchId: String
    public var total: Int
    public var terminal: Int
    public var done: Bool
    /// Commands per state name.
    public var states: [String: Int]

    /// Every field, as the server fills it in.
    public init(batchId: String, total: Int, terminal: Int, done: Bool, states: [String: Int]) {
        self.batchId = batchId
        self.total = total
        self.terminal = terminal
        self.done = done
        self.states = states
    }
}

/// One line of a streamed batch answer (`GET /api/v1/batches/{id}/events` and `…/results`, NDJSON):
/// exactly one of the fields is set, and `end` only on the last line.
public struct BatchStreamLine: Codable, Sendable {
    public var command: CommandView?
    /// A command in the compact events stream's form (`view=compact`), in place of `command`.
    public var brief: CommandBrief?
    public var output: OutputView?
    public var end: BatchStreamEnd?

    public init(command: CommandView? = nil, brief: CommandBrief? = nil, output: OutputView? = nil, end: BatchStreamEnd? = nil) {
        self.command = command
        self.brief = brief
        self.output = output
        self.end = end
    }
}

/// The last line of a streamed batch answer; a stream without it was cut short.
public struct BatchStreamEnd: Codable, Sendable {
    /// Every change up to this version was in the answer: the `after` of the next events request.
    public var version: Int
    /// Every command of the batch had finished when the answer was read.
    public var done: Bool
    /// How many `command` (or `brief`) lines the answer had.
    public var commands: Int

    public init(version: Int, done: Bool, commands: Int) {
        self.version = version
        self.done = done
        self.commands = commands
    }
}

/// The body of an error answer: `{"error": {"message": "…"}}` (Hummingbird's error shape).
public struct ErrorBody: Codable, Sendable {
    /// The error's words.
    public struct Inner: Codable, Sendable {
        public var message: String
        public init(message: String) { self.message = message }
    }
    public var error: Inner
    public init(error: Inner) { self.error = error }
}
