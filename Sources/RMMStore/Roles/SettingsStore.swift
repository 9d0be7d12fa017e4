import RMMProtocol

/// Server-wide settings: the fleet's agent config, versioned.
public protocol SettingsStore: Sendable {
    /// The fleet config; `AgentConfig.defaults` until one is saved.
    func config() async throws -> AgentConfig
    /// Saves a config with `version` one above the larger of the stored version and `config.version`,
    /// and returns it; `audit`'s entry for the saved config is stored in the same transaction.
    func saveConfig(_ config: AgentConfig, audit: (@Sendable (AgentConfig) -> AuditEntry)?) async throws -> AgentConfig
}

extension SettingsStore {
    /// The same without an audit entry (tests, tools).
    public func saveConfig(_ config: AgentConfig) async throws -> AgentConfig {
        try await saveConfig(config, audit: nil)
    }
}
