import Foundation
import RMMProtocol

/// Why the store refused an operation, in words an operator can act on.
public enum StoreError: Error, Equatable, Sendable, CustomStringConvertible {
    case enrollmentTokenUnknown
    case enrollmentTokenExpired
    case enrollmentTokenUsedUp
    case enrollmentTokenRevoked
    case notFound(String)
    case conflict(String)
    case corrupt(String)
    /// The value given cannot be stored (an invalid agent name), and why.
    case invalid(String)
    /// Inserting would take these agents (id → non-terminal commands they have now) past `limit`.
    case tooManyPending(limit: Int, counts: [String: Int])

    public var description: String {
        switch self {
        case .enrollmentTokenUnknown: return "enrollment token is not known to this server"
        case .enrollmentTokenExpired: return "enrollment token has expired"
        case .enrollmentTokenUsedUp: return "enrollment token has no uses left"
        case .enrollmentTokenRevoked: return "enrollment token was revoked"
        case .notFound(let what): return "\(what) not found"
        case .conflict(let why): return why
        case .corrupt(let why): return "stored data is unreadable: \(why)"
        case .invalid(let why): return why
        case .tooManyPending(let limit, let counts):
            let agents = counts.sorted { $0.key < $1.key }.map { "\($0.key) (\($0.value))" }.joined(separator: ", ")
            return "\(counts.count) agent(s) would have more than \(limit) pending commands: \(agents)"
        }
    }
}

/// Durable state of a GuruRMM server. Every method returns only after its effect is durable.
///
/// Command state changes go through `transition` or `finish`, which check `CommandState.canMove`
/// and write the new state and a history event in one transaction.
public protocol Store: Sendable {
    // MARK: enrollment and agents

    /// Stores a new enrollment token by the SHA-256 (hex) of its secret, and `audit`'s entry for
    /// it in the same transaction.
    func createEnrollmentToken(
        hash: String, expiresAt: Date?, uses: Int, now: Date, audit: (@Sendable (EnrollmentTokenRecord) -> AuditEntry)?
    ) async throws -> EnrollmentTokenRecord
    /// Revokes an enrollment token (`notFound` if unknown), with `audit` in the same transaction.
    func revokeEnrollmentToken(id: String, now: Date, audit: AuditEntry?) async throws
    func enrollmentTokens() async throws -> [EnrollmentTokenRecord]

    /// Enrolls an agent: consumes one use of the token, creates the agent and audits it
    /// (`agents.enroll`, naming the enrollment token's id and `remote`), atomically. The agent's
    /// proposed name is taken if valid and free, else made unique ("web-2"; `AgentName`).
    /// Idempotent by public key: the same key gets the same agent back and consumes nothing.
    func enrollAgent(tokenHash: String, publicKey: String, facts: AgentFacts, now: Date, remote: String) async throws -> AgentRecord
    /// Gives an agent a new name: `invalid` for a name `AgentName.problem` refuses, `conflict` if
    /// another agent holds it (case-insensitively), `notFound` for an unknown agent; `audit` is
    /// stored in the same transaction.
    func renameAgent(id: String, to name: String, audit: AuditEntry?) async throws -> AgentRecord

    func agent(id: String) async throws -> AgentRecord?
    /// An agent by id, or else by name (case-insensitively); `conflict` listing the candidates' ids
    /// if the text could mean more than one agent.
    func resolveAgent(_ idOrName: String) async throws -> AgentRecord?
    func agents() async throws -> [AgentRecord]
    /// At most `limit` agents in the order of `agents()`, those after `after` (keyset paging: a
    /// page costs the same however deep it is).
    func agentPage(after: AgentPageCursor?, limit: Int) async throws -> [AgentRecord]
    /// How many agents are enrolled, and how many of them are revoked (one query).
    func agentCounts() async throws -> (enrolled: Int, revoked: Int)
    /// Names of the given agents, by id (unknown ids are left out).
    func agentNames(ids: [String]) async throws -> [String: String]
    /// Every agent that is not revoked, as id and name, by name (a fan-out to all needs no more).
    func liveAgentNames() async throws -> [(id: String, name: String)]

    /// Records an accepted connection: stores the facts and returns the agent with its epoch incremented.
    func recordConnect(agentId: String, facts: AgentFacts, now: Date) async throws -> AgentRecord
    /// Flushes liveness facts (non-nil fields overwrite); `notFound` for an unknown agent.
    func saveLiveness(agentId: String, _ liveness: AgentLiveness) async throws
    /// Flushes many agents' liveness facts in one write, each as `saveLiveness(agentId:_:)` does.
    /// An unknown agent id is skipped rather than failing the batch (one stale session must not
    /// cost the rest of the fleet its liveness); the skipped ids are returned.
    @discardableResult
    func saveLiveness(_ batch: [(agentId: String, liveness: AgentLiveness)]) async throws -> [String]
    /// Revokes an agent (`notFound` if unknown), with `audit` in the same transaction.
    func revokeAgent(id: String, now: Date, audit: AuditEntry?) async throws
    /// Keeps the latest link diagnosis of an agent (JSON the store does not interpret).
    func saveLinkDiagnosis(agentId: String, _ json: Data) async throws
    func linkDiagnosis(agentId: String) async throws -> Data?
    /// The stored link diagnoses of the given agents, by id, in one query (agents without one are left out).
    func linkDiagnoses(agentIds: [String]) async throws -> [String: Data]
    /// Records a link verdict: a repeat of the agent's newest entry (same verdict, source and
    /// stage) extends it; anything else is a new entry, and only the newest `keep` are kept, of
    /// which at most `VerdictRecord.agentReportsKept(of: keep)` agent reports.
    /// Returns the stored entry (`count` 1 when new).
    func recordVerdict(_ record: VerdictRecord, keep: Int) async throws -> VerdictRecord
    /// The agent's verdict history, newest first.
    func verdicts(agentId: String, limit: Int) async throws -> [VerdictRecord]
    /// Appends `note` to the history of each command in `commandIds` that is still `sent` and has
    /// no earlier history note starting with `once` — in one transaction, so a command requeued or
    /// ended meanwhile gets nothing. The command itself (state, reason, version) is not changed.
    /// Returns the ids noted.
    func noteDelay(commandIds: [String], note: String, once: String, now: Date) async throws -> [String]
    /// Each given agent's newest verdict, by agent id, in one query; agents without one are left
    /// out. With `only`, the newest of that kind the server has its own evidence of (a probe or a
    /// handshake), else the newest of that kind (an agent's report alone).
    func latestVerdicts(agentIds: [String], only: LinkVerdict?) async throws -> [String: VerdictRecord]

    // MARK: commands

    /// Inserts commands in state `queued` with a `queued` history event, in one transaction; a
    /// command handed in as `sent` (its agent's live connection takes it at once; `reason` names
    /// the connection) is stored as `sent` with both events. Any other state is refused. With
    /// `maxPendingPerAgent`, inserts nothing and throws `tooManyPending` if any agent would then
    /// have more non-terminal commands than that (checked in the same transaction). `audit`, when
    /// given, is appended in the same transaction: the commands and the record of who ran them
    /// become durable together, with one commit on the operator's path instead of two.
    func insertCommands(_ commands: [CommandRecord], maxPendingPerAgent: Int?, audit: AuditEntry?) async throws
    /// Non-terminal commands (queued, sent, delivered, running) per agent; agents with none are absent.
    func pendingCommandCounts(agentIds: [String]) async throws -> [String: Int]
    func command(id: String) async throws -> CommandRecord?
    /// Newest first.
    func commands(agentId: String?, limit: Int) async throws -> [CommandRecord]
    /// Commands in `queued` or `sent` for an agent, oldest first: what a new session must (re)send.
    func undeliveredCommands(agentId: String) async throws -> [CommandRecord]
    /// Commands still `delivered` or `running` although the agent had to start them by `expiresAt`
    /// and end them within `timeoutSeconds`, plus `slack` seconds: their result is overdue.
    func commandsOverdueForResult(now: Date, slack: Double) async throws -> [CommandRecord]
    /// Undelivered commands whose `expiresAt` is before `now`.
    func commandsToExpire(now: Date) async throws -> [CommandRecord]

    /// Moves a command to `state` if the lifecycle allows it; returns the updated record, or nil if the
    /// move is not allowed (the command is unchanged). Writes a history event with `reason`.
    func transition(commandId: String, to state: CommandState, reason: String?, now: Date) async throws -> CommandRecord?
    /// `transition` that also stores `audit` in the same transaction when the move is made (an
    /// operator's cancel); a refused move stores neither.
    func transition(commandId: String, to state: CommandState, reason: String?, now: Date, audit: AuditEntry) async throws -> CommandRecord?
    /// Ends a command with the agent's result: appends missing output, sets the terminal state.
    /// Returns nil (and changes nothing) if the command is already terminal or the move is not allowed.
    func finish(commandId: String, outcome: CommandOutcome, now: Date) async throws -> CommandRecord?

    /// Appends live output if `offset` is exactly the stream's stored length and the cap leaves room;
    /// returns false (storing nothing) otherwise. Output of a terminal command is never changed.
    func appendOutput(commandId: String, stream: StdStream, offset: Int, data: Data, cap: Int) async throws -> Bool
    /// Applies an agent's reports in order, in one transaction, each exactly as `transition`,
    /// `appendOutput` or `finish` would; one effect per report. A report on an unknown command or
    /// another agent's changes nothing (`unknown`, `notOwned`); any other failure fails them all.
    func recordReports(_ reports: [CommandReport], agentId: String, now: Date) async throws -> [ReportEffect]
    func output(commandId: String, stream: StdStream) async throws -> Data
    func events(commandId: String) async throws -> [CommandEvent]

    /// Changes in a batch after `version`, and the version to ask from next time.
    func batchChanges(batchId: String, after version: Int) async throws -> BatchChanges
    /// All commands of a batch.
    func batch(id: String) async throws -> [CommandRecord]
    /// How many of a batch's commands are in each state (one query; it reads every command of the batch).
    func batchStateCounts(batchId: String) async throws -> [CommandState: Int]
    /// How many of a batch's commands are not finished (reads only those: cheap to ask often).
    func batchPendingCount(batchId: String) async throws -> Int
    /// The highest change version among a batch's commands (a command's covers its output); nil for an unknown batch.
    func batchTopVersion(batchId: String) async throws -> Int?
    /// At most `limit` of a batch's commands changed after `version`, in change order, starting
    /// past `position` (the last one of the previous page; nil for the first page).
    func batchChangedCommands(batchId: String, after version: Int, from position: BatchPosition?, limit: Int) async throws -> [PositionedCommand]
    /// At most `limit` of a batch's commands in creation order, after row `row` (0 for the first page).
    func batchCommands(batchId: String, afterRow row: Int64, limit: Int) async throws -> [PositionedCommand]
    /// Which of these commands have output stored in `versions` (one query for a page of commands).
    func commandsWithOutput(ids: [String], versions: OutputVersions) async throws -> Set<String>
    /// At most `limit` stored chunks of these commands in `versions`, after `cursor` (nil: from the
    /// start), ordered by command id, stream name and offset: one read for a page of commands.
    func outputChunks(commandIds: [String], after cursor: OutputCursor?, versions: OutputVersions, limit: Int) async throws -> [OutputChunk]

    // MARK: operator tokens and config

    /// Stores an API token by the SHA-256 (hex) of its secret, and `audit`'s entry for it in the same transaction.
    func createAPIToken(name: String, role: String, hash: String, now: Date, audit: (@Sendable (APITokenRecord) -> AuditEntry)?) async throws -> APITokenRecord
    /// The live (not revoked) token with this hash.
    func apiToken(hash: String) async throws -> APITokenRecord?
    func apiTokens() async throws -> [APITokenRecord]
    /// Revokes an API token (`notFound` if unknown), with `audit` in the same transaction.
    func revokeAPIToken(id: String, now: Date, audit: AuditEntry?) async throws

    // MARK: audit

    /// Appends one operator action to the audit log (append-only: nothing can change or delete it).
    func appendAudit(_ entry: AuditEntry) async throws
    /// The newest entries first.
    func auditLog(limit: Int) async throws -> [AuditEntry]

    /// The fleet config; `AgentConfig.defaults` until one is saved.
    func config() async throws -> AgentConfig
    /// Saves a config with `version` one above the larger of the stored version and `config.version`,
    /// and returns it; `audit`'s entry for the saved config is stored in the same transaction.
    func saveConfig(_ config: AgentConfig, audit: (@Sendable (AgentConfig) -> AuditEntry)?) async throws -> AgentConfig
}

extension Store {
    /// The same without an audit entry (tests, tools).
    public func createEnrollmentToken(hash: String, expiresAt: Date?, uses: Int, now: Date) async throws -> EnrollmentTokenRecord {
        try await createEnrollmentToken(hash: hash, expiresAt: expiresAt, uses: uses, now: now, audit: nil)
    }

    /// The same without an audit entry (tests, tools).
    public func revokeEnrollmentToken(id: String, now: Date) async throws {
        try await revokeEnrollmentToken(id: id, now: now, audit: nil)
    }

    /// Enrolls with an unknown remote address in the audit entry (tests, tools).
    public func enrollAgent(tokenHash: String, publicKey: String, facts: AgentFacts, now: Date) async throws -> AgentRecord {
        try await enrollAgent(tokenHash: tokenHash, publicKey: publicKey, facts: facts, now: now, remote: "unknown")
    }

    /// The same without an audit entry (tests, tools).
    public func revokeAgent(id: String, now: Date) async throws {
        try await revokeAgent(id: id, now: now, audit: nil)
    }

    /// The same without an audit entry (tests, tools).
    public func createAPIToken(name: String, role: String, hash: String, now: Date) async throws -> APITokenRecord {
        try await createAPIToken(name: name, role: role, hash: hash, now: now, audit: nil)
    }

    /// The same without an audit entry (tests, tools).
    public func revokeAPIToken(id: String, now: Date) async throws {
        try await revokeAPIToken(id: id, now: now, audit: nil)
    }

    /// The same without an audit entry (tests, tools).
    public func saveConfig(_ config: AgentConfig) async throws -> AgentConfig {
        try await saveConfig(config, audit: nil)
    }

    /// Inserts commands with no limit on pending commands per agent.
    public func insertCommands(_ commands: [CommandRecord]) async throws {
        try await insertCommands(commands, maxPendingPerAgent: nil, audit: nil)
    }

    /// Inserts commands, refusing them all if an agent would have more than `maxPendingPerAgent`.
    public func insertCommands(_ commands: [CommandRecord], maxPendingPerAgent: Int?) async throws {
        try await insertCommands(commands, maxPendingPerAgent: maxPendingPerAgent, audit: nil)
    }
}
