import Foundation
import PostgresNIO
import RMMProtocol

/// The fleet config, one row of `settings`.
extension PostgresStore {
    private static let configKey = "agent_config"

    public func config() async throws -> AgentConfig {
        try await read { connection in
            try await connection.rows("SELECT key, value FROM settings WHERE key = \(Self.configKey)", logger: logger) { row in
                try PostgresRowReader(row, table: "settings").json(1, as: AgentConfig.self)
            }.first ?? .defaults
        }
    }

    public func saveConfig(_ config: AgentConfig, audit: (@Sendable (AgentConfig) -> AuditEntry)?) async throws -> AgentConfig {
        let defaults = try StoredJSON.encode(AgentConfig.defaults)
        return try await write { connection in
            // The row exists (the defaults, until a save) and is locked before its version is read:
            // concurrent saves queue on it, and each reads the version the one before committed.
            _ = try await connection.query(
                """
                INSERT INTO settings (key, value, version) VALUES (\(Self.configKey), \(defaults), \(AgentConfig.defaults.version))
                ON CONFLICT (key) DO NOTHING
                """,
                logger: logger
            )
            let stored = try await connection.rows("SELECT key, value FROM settings WHERE key = \(Self.configKey) FOR UPDATE", logger: logger) { row in
                try PostgresRowReader(row, table: "settings").json(1, as: AgentConfig.self)
            }.first ?? .defaults
            var saved = config
            saved.version = max(stored.version, config.version) + 1
            _ = try await connection.query(
                "UPDATE settings SET value = \(try StoredJSON.encode(saved)), version = \(saved.version) WHERE key = \(Self.configKey)",
                logger: logger
            )
            if let audit { try await insertAudit(audit(saved), connection) }
            return saved
        }
    }

    public func setting(_ key: String) async throws -> String? {
        try await read { connection in
            try await connection.rows("SELECT value FROM settings WHERE key = \(key)", logger: logger) { row in
                try PostgresRowReader(row, table: "settings").value(0, as: String.self)
            }.first
        }
    }

    public func saveSetting(_ key: String, value: String, audit: AuditEntry?) async throws {
        try await write { connection in
            _ = try await connection.query(
                """
                INSERT INTO settings (key, value, version) VALUES (\(key), \(value), 1)
                ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = settings.version + 1
                """,
                logger: logger
            )
            if let audit { try await insertAudit(audit, connection) }
        }
    }
}
