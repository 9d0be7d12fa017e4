import Foundation
import RMMProtocol

/// What agents' connections write about their agents as they come and go: each accepted
/// connection's facts and epoch, then the liveness facts flushed while it lasts.
public protocol LivenessStore: Sendable {
    /// Records an accepted connection: stores the facts and returns the agent with its epoch incremented.
    func recordConnect(agentId: String, facts: AgentFacts, now: Date) async throws -> AgentRecord
    /// Flushes liveness facts (non-nil fields overwrite); `notFound` for an unknown agent.
    func saveLiveness(agentId: String, _ liveness: AgentLiveness) async throws
    /// Flushes many agents' liveness facts in one write, each as `saveLiveness(agentId:_:)` does.
    /// An unknown agent id is skipped rather than failing the batch (one stale session must not
    /// cost the rest of the fleet its liveness); the skipped ids are returned.
    @discardableResult
    func saveLiveness(_ batch: [(agentId: String, liveness: AgentLiveness)]) async throws -> [String]
}
