import Foundation
import PostgresNIO
import RMMProtocol

extension PostgresStore {
    public func config() async throws -> AgentConfig {
        throw StoreError.unavailable("PostgresStore.config is not implemented yet")
    }

    public func saveConfig(_ config: AgentConfig, audit: (@Sendable (AgentConfig) -> AuditEntry)?) async throws -> AgentConfig {
        throw StoreError.unavailable("PostgresStore.saveConfig is not implemented yet")
    }
}
