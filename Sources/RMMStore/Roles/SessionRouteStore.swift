import Foundation

/// What a guarded move to `sent` came to (`SessionRouteStore.markSent`).
public enum SentMarking: Sendable, Equatable {
    /// The agent's current epoch is not the caller's: a newer connection (on this node or
    /// another) holds the agent's route. Nothing changed; the caller must not write the commands.
    case superseded(currentEpoch: Int?)
    /// The commands now `sent`, by id; a command the lifecycle refuses (ended, gone, another
    /// agent's) is absent and must not be written.
    case marked(Set<String>)
}

/// The route of an agent's session across server nodes: the epoch-guarded move to `sent`, and the
/// periodic comparison of what the sessions hold with what the store says is undelivered.
public protocol SessionRouteStore: Sendable {
    /// Moves the agent's commands to `sent` (from `queued` or `sent`, with a history event giving
    /// `reason`) only while no newer connection of the agent was recorded (`agents.epoch` is at
    /// most `epoch`: it is `epoch` for a connection `recordConnect` numbered), all in one
    /// transaction that confirms it; otherwise (or for an unknown agent) the caller's connection
    /// is `superseded` and nothing changes. A `recordConnect` that commits concurrently is
    /// ordered wholly before or after the move.
    func markSent(commandIds: [String], agentId: String, epoch: Int, reason: String?, now: Date) async throws -> SentMarking
    /// The ids of the commands in `queued` or `sent` of each of `agentIds` (agents with none are
    /// absent), in one query: a node's sweep compares them with its sessions' outboxes.
    func undeliveredCommandIds(agentIds: [String]) async throws -> [String: Set<String>]
    /// The stored epoch of each of `agentIds` (unknown agents are absent), in one query: a
    /// draining node sees which of the agents it closed have connected again, elsewhere.
    func agentEpochs(agentIds: [String]) async throws -> [String: Int]
}
