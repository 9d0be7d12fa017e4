import Foundation
import GRDB
import RMMProtocol

/// Operator API tokens and the fleet config.
extension SQLiteStore {
    private static let configKey = "agent_config"

    public func createAPIToken(name: String, role: String, hash: String, now: Date, audit: (@Sendable (APITokenRecord) -> AuditEntry)?) async throws -> APITokenRecord {
        let record = APITokenRecord(id: RecordId.random(prefix: "tk_"), name: name, role: role, createdAt: now)
        return try await write { db in
            do {
                try db.execute(
                    sql: "INSERT INTO api_tokens (id, name, role, hash, created_at) VALUES (?, ?, ?, ?, ?)",
                    arguments: [record.id, name, role, hash, now.dbSeconds]
                )
            } catch where Self.isUniqueViolation(error) {
                throw StoreError.conflict("an API token with this secret already exists")
            }
            if let audit { try Self.insertAudit(audit(record), db) }
            return record
        }
    }

    public func apiToken(hash: String) async throws -> APITokenRecord? {
        try await read { db in
            try Row.fetchOne(
                db, sql: "SELECT \(APITokenRecord.columns) FROM api_tokens WHERE hash = ? AND revoked_at IS NULL", arguments: [hash]
            ).map(APITokenRecord.init(row:))
        }
    }

    public func apiTokens() async throws -> [APITokenRecord] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT \(APITokenRecord.columns) FROM api_tokens ORDER BY created_at, rowid")
                .map(APITokenRecord.init(row:))
        }
    }

    public func revokeAPIToken(id: String, now: Date, audit: AuditEntry?) async throws {
        try await write { db in
            // COALESCE keeps the first revocation time when revoked twice.
            try db.execute(sql: "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?", arguments: [now.dbSeconds, id])
            if db.changesCount == 0 { throw StoreError.notFound("API token '\(id)'") }
            // Its console sessions end with it (lookups also refuse a revoked token's sessions).
            try db.execute(sql: "DELETE FROM console_sessions WHERE token_id = ?", arguments: [id])
            if let audit { try Self.insertAudit(audit, db) }
        }
    }

    public func config() async throws -> AgentConfig {
        try await read { db in try Self.storedConfig(db) }
    }

    public func saveConfig(_ config: AgentConfig, audit: (@Sendable (AgentConfig) -> AuditEntry)?) async throws -> AgentConfig {
        try await write { db in
            var saved = config
            saved.version = max(try Self.storedConfig(db).version, config.version) + 1
            try db.execute(
                sql: """
                    INSERT INTO settings (key, value, version) VALUES (?, ?, ?)
                    ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = excluded.version
                    """,
                arguments: [Self.configKey, try StoredJSON.encode(saved), saved.version]
            )
            if let audit { try Self.insertAudit(audit(saved), db) }
            return saved
        }
    }

    public func setting(_ key: String) async throws -> String? {
        try await read { db in try String.fetchOne(db, sql: "SELECT value FROM settings WHERE key = ?", arguments: [key]) }
    }

    public func saveSetting(_ key: String, value: String, audit: AuditEntry?) async throws {
        try await write { db in
            try db.execute(
                sql: """
                    INSERT INTO settings (key, value, version) VALUES (?, ?, 1)
                    ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = settings.version + 1
                    """,
                arguments: [key, value]
            )
            if let audit { try Self.insertAudit(audit, db) }
        }
    }

    private static func storedConfig(_ db: Database) throws -> AgentConfig {
        guard let json = try String.fetchOne(db, sql: "SELECT value FROM settings WHERE key = ?", arguments: [configKey]) else {
            return .defaults
        }
        return try StoredJSON.decode(AgentConfig.self, from: json, what: "agent config")
    }
}
