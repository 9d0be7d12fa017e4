import Foundation
import RMMProtocol

/// What the session holding an agent's connection reads and writes about that agent's commands:
/// what to (re)send, the move to `sent`, and the agent's reports (acks, output, results).
///
/// State changes check `CommandState.canMove` and write the new state and a history event in one
/// transaction.
public protocol DeliveryStore: Sendable {
    /// Commands in `queued` or `sent` for an agent, oldest first: what a new session must (re)send.
    func undeliveredCommands(agentId: String) async throws -> [CommandRecord]
    func command(id: String) async throws -> CommandRecord?
    /// Moves a command to `state` if the lifecycle allows it; returns the updated record, or nil if the
    /// move is not allowed (the command is unchanged). Writes a history event with `reason`.
    func transition(commandId: String, to state: CommandState, reason: String?, now: Date) async throws -> CommandRecord?
    /// Applies an agent's reports in order, in one transaction, each exactly as `transition`,
    /// `appendOutput` or `finish` would; one effect per report. A report on an unknown command or
    /// another agent's changes nothing (`unknown`, `notOwned`); any other failure fails them all.
    func recordReports(_ reports: [CommandReport], agentId: String, now: Date) async throws -> [ReportEffect]
    /// Appends live output if `offset` is exactly the stream's stored length and the cap leaves room;
    /// returns false (storing nothing) otherwise. Output of a terminal command is never changed.
    func appendOutput(commandId: String, stream: StdStream, offset: Int, data: Data, cap: Int) async throws -> Bool
    /// Ends a command with the agent's result: appends missing output, sets the terminal state.
    /// Returns nil (and changes nothing) if the command is already terminal or the move is not allowed.
    func finish(commandId: String, outcome: CommandOutcome, now: Date) async throws -> CommandRecord?
}
