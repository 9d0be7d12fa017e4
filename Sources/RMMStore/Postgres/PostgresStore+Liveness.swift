import Foundation
import PostgresNIO
import RMMProtocol

extension PostgresStore {
    public func recordConnect(agentId: String, facts: AgentFacts, now: Date) async throws -> AgentRecord {
        throw StoreError.unavailable("PostgresStore.recordConnect is not implemented yet")
    }

    public func saveLiveness(agentId: String, _ liveness: AgentLiveness) async throws {
        throw StoreError.unavailable("PostgresStore.saveLiveness is not implemented yet")
    }

    @discardableResult
    public func saveLiveness(_ batch: [(agentId: String, liveness: AgentLiveness)]) async throws -> [String] {
        throw StoreError.unavailable("PostgresStore.saveLiveness is not implemented yet")
    }
}
