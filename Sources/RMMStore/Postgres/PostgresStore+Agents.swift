import Foundation
import PostgresNIO
import RMMProtocol

extension PostgresStore {
    public func enrollAgent(tokenHash: String, publicKey: String, facts: AgentFacts, now: Date, remote: String) async throws -> AgentRecord {
        throw StoreError.unavailable("PostgresStore.enrollAgent is not implemented yet")
    }

    public func renameAgent(id: String, to name: String, audit: AuditEntry?) async throws -> AgentRecord {
        throw StoreError.unavailable("PostgresStore.renameAgent is not implemented yet")
    }

    public func revokeAgent(id: String, now: Date, audit: AuditEntry?) async throws {
        throw StoreError.unavailable("PostgresStore.revokeAgent is not implemented yet")
    }

    public func agent(id: String) async throws -> AgentRecord? {
        throw StoreError.unavailable("PostgresStore.agent is not implemented yet")
    }

    public func resolveAgent(_ idOrName: String) async throws -> AgentRecord? {
        throw StoreError.unavailable("PostgresStore.resolveAgent is not implemented yet")
    }

    public func agents() async throws -> [AgentRecord] {
        throw StoreError.unavailable("PostgresStore.agents is not implemented yet")
    }

    public func agentPage(after: AgentPageCursor?, limit: Int) async throws -> [AgentRecord] {
        throw StoreError.unavailable("PostgresStore.agentPage is not implemented yet")
    }

    public func agentCounts() async throws -> (enrolled: Int, revoked: Int) {
        throw StoreError.unavailable("PostgresStore.agentCounts is not implemented yet")
    }

    public func agentNames(ids: [String]) async throws -> [String: String] {
        throw StoreError.unavailable("PostgresStore.agentNames is not implemented yet")
    }

    public func liveAgentNames() async throws -> [(id: String, name: String)] {
        throw StoreError.unavailable("PostgresStore.liveAgentNames is not implemented yet")
    }
}
