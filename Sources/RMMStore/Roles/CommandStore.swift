import Foundation
import RMMProtocol

/// Commands on the operator's side: inserting them, cancelling them with their audit entry, the
/// sweeps that expire them or time them out, and the reads of one command's record, output and history.
public protocol CommandStore: Sendable {
    /// Inserts commands in state `queued` with a `queued` history event, in one transaction; a
    /// command handed in as `sent` (its agent's live connection takes it at once; `reason` names
    /// the connection) is stored as `sent` with both events. Any other state is refused. With
    /// `maxPendingPerAgent`, inserts nothing and throws `tooManyPending` if any agent would then
    /// have more non-terminal commands than that (checked in the same transaction). `audit`, when
    /// given, is appended in the same transaction: the commands and the record of who ran them
    /// become durable together, with one commit on the operator's path instead of two.
    func insertCommands(_ commands: [CommandRecord], maxPendingPerAgent: Int?, audit: AuditEntry?) async throws
    /// `DeliveryStore.transition` that also stores `audit` in the same transaction when the move
    /// is made (an operator's cancel); a refused move stores neither.
    func transition(commandId: String, to state: CommandState, reason: String?, now: Date, audit: AuditEntry) async throws -> CommandRecord?
    /// Non-terminal commands (queued, sent, delivered, running) per agent; agents with none are absent.
    func pendingCommandCounts(agentIds: [String]) async throws -> [String: Int]
    /// Newest first.
    func commands(agentId: String?, limit: Int) async throws -> [CommandRecord]
    /// Commands still `delivered` or `running` although the agent had to start them by `expiresAt`
    /// and end them within `timeoutSeconds`, plus `slack` seconds: their result is overdue.
    func commandsOverdueForResult(now: Date, slack: Double) async throws -> [CommandRecord]
    /// Undelivered commands whose `expiresAt` is before `now`.
    func commandsToExpire(now: Date) async throws -> [CommandRecord]
    func output(commandId: String, stream: StdStream) async throws -> Data
    func events(commandId: String) async throws -> [CommandEvent]
}

extension CommandStore {
    /// Inserts commands with no limit on pending commands per agent.
    public func insertCommands(_ commands: [CommandRecord]) async throws {
        try await insertCommands(commands, maxPendingPerAgent: nil, audit: nil)
    }

    /// Inserts commands, refusing them all if an agent would have more than `maxPendingPerAgent`.
    public func insertCommands(_ commands: [CommandRecord], maxPendingPerAgent: Int?) async throws {
        try await insertCommands(commands, maxPendingPerAgent: maxPendingPerAgent, audit: nil)
    }
}
