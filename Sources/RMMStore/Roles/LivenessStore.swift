import Foundation
import RMMProtocol

/// What agents' connections write about their agents as they come and go: each accepted
/// connection's facts and epoch, then the liveness facts flushed while it lasts.
public protocol LivenessStore: Sendable {
    /// Records an accepted connection: stores the facts and the address it came from (`remote`;
    /// nil keeps the stored one) and returns the agent with its epoch incremented.
    func recordConnect(agentId: String, facts: AgentFacts, remote: String?, now: Date) async throws -> AgentRecord
    /// Flushes liveness facts (non-nil fields overwrite); `notFound` for an unknown agent. A flush
    /// carrying an epoch (`AgentLiveness.epoch`) older than the agent's stored epoch is
    /// ignored, checked and written in one statement: a newer connection owns the agent's liveness.
    func saveLiveness(agentId: String, _ liveness: AgentLiveness) async throws
    /// Flushes many agents' liveness facts in one write, each as `saveLiveness(agentId:_:)` does.
    /// An unknown agent id is skipped rather than failing the batch (one stale session must not
    /// cost the rest of the fleet its liveness); the skipped ids are returned.
    @discardableResult
    func saveLiveness(_ batch: [(agentId: String, liveness: AgentLiveness)]) async throws -> [String]
    /// Of the agents not revoked whose stored liveness says connected (to any node), last seen at
    /// or after `since`: how many also had their downlink proven at or after `since` (`online`),
    /// and how many not (`degraded`). The rule a node applies to one agent's stored liveness,
    /// counted over the fleet in one read (every node's agents, on a shared store).
    func liveCounts(since: Date) async throws -> (online: Int, degraded: Int)
}

extension LivenessStore {
    /// Records a connection whose address is not known (tests, tools).
    public func recordConnect(agentId: String, facts: AgentFacts, now: Date) async throws -> AgentRecord {
        try await recordConnect(agentId: agentId, facts: facts, remote: nil, now: now)
    }
}
