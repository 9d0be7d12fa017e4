import RMMProtocol

/// Server-wide settings: the fleet's agent config, versioned.
public protocol SettingsStore: Sendable {
    /// The fleet config; `AgentConfig.defaults` until one is saved.
    func config() async throws -> AgentConfig
    /// Saves a config with `version` one above the larger of the stored version and `config.version`,
    /// and returns it; `audit`'s entry for the saved config is stored in the same transaction.
    func saveConfig(_ config: AgentConfig, audit: (@Sendable (AgentConfig) -> AuditEntry)?) async throws -> AgentConfig
    /// The text stored under `key` (a setting other than the fleet config, e.g. the console's named
    /// sites), nil until one is saved.
    func setting(_ key: String) async throws -> String?
    /// Stores `value` under `key` (replacing any), with `audit` in the same transaction.
    func saveSetting(_ key: String, value: String, audit: AuditEntry?) async throws
}

extension SettingsStore {
    /// The same without an audit entry (tests, tools).
    public func saveConfig(_ config: AgentConfig) async throws -> AgentConfig {
        try await saveConfig(config, audit: nil)
    }
}
