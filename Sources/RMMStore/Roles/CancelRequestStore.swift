import Foundation

/// Operators' cancels of commands an agent may hold (sent, delivered or running), kept with the
/// command until it ends. The cancel itself travels as a signal to the node holding the agent's
/// connection; this is what that node's sweep finds when the signal was lost.
public protocol CancelRequestStore: Sendable {
    /// Records a cancel of `commandId` asked at `now` for `reason`; the first request's reason and
    /// time are kept. Nothing is recorded for a command that already ended; `notFound` for an
    /// unknown command. One statement: a concurrent end of the command either precedes it or
    /// leaves a request that no read returns (only unfinished commands' requests are read).
    func requestCancel(commandId: String, reason: String, now: Date) async throws
    /// The cancels asked of these agents' commands that are sent, delivered or running: by agent,
    /// then command id → reason. Agents without any are left out.
    func requestedCancels(agentIds: [String]) async throws -> [String: [String: String]]
}
