import Foundation
import RMMProtocol

/// The lifecycle steps of a command as pure functions of its record: every backend applies them
/// to the record it read in its transaction, and stores what they return.
extension CommandRecord {
    /// This command moved to `state` with `reason` at `now`, or nil if the lifecycle refuses the move.
    func moved(to state: CommandState, reason: String?, now: Date) -> CommandRecord? {
        guard self.state.canMove(to: state) else { return nil }
        var command = self
        command.state = state
        command.reason = reason
        command.updatedAt = now
        return command
    }

    /// This command ended with `outcome` at `now` (its output aside), or nil if nothing changes:
    /// it is terminal already (a redelivered result), the outcome is not terminal, or the
    /// lifecycle refuses the move.
    func ended(with outcome: CommandOutcome, now: Date) -> CommandRecord? {
        guard !state.isTerminal, outcome.state.isTerminal, state.canMove(to: outcome.state) else { return nil }
        var command = self
        command.state = outcome.state
        command.reason = outcome.reason
        command.exitCode = outcome.exitCode
        command.signal = outcome.signal
        command.stdoutTruncated = outcome.stdoutTruncated
        command.stderrTruncated = outcome.stderrTruncated
        command.updatedAt = now
        return command
    }
}
