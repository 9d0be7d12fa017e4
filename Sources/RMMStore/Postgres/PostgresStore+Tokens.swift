import Foundation
import PostgresNIO
import RMMProtocol

/// Enrollment tokens and operator API tokens.
extension PostgresStore {
    public func createEnrollmentToken(
        hash: String, expiresAt: Date?, uses: Int, now: Date, audit: (@Sendable (EnrollmentTokenRecord) -> AuditEntry)?
    ) async throws -> EnrollmentTokenRecord {
        guard uses >= 0 else { throw StoreError.conflict("an enrollment token needs zero or more uses, not \(uses)") }
        let record = EnrollmentTokenRecord(id: RecordId.random(prefix: "et_"), createdAt: now, expiresAt: expiresAt, usesLeft: uses)
        return try await write { connection in
            do {
                _ = try await connection.query(
                    """
                    INSERT INTO enrollment_tokens (id, hash, created_at, expires_at, uses_left)
                    VALUES (\(record.id), \(hash), \(now.dbSeconds), \(expiresAt.dbSeconds), \(uses))
                    """,
                    logger: logger
                )
            } catch where Self.sqlState(error) == Self.uniqueViolation {
                throw StoreError.conflict("an enrollment token with this secret already exists")
            }
            if let audit { try await insertAudit(audit(record), connection) }
            return record
        }
    }

    public func revokeEnrollmentToken(id: String, now: Date, audit: AuditEntry?) async throws {
        try await write { connection in
            // COALESCE keeps the first revocation time when revoked twice.
            let revoked = try await connection.count(
                "UPDATE enrollment_tokens SET revoked_at = COALESCE(revoked_at, \(now.dbSeconds)) WHERE id = \(id) RETURNING id",
                logger: logger
            )
            if revoked == 0 { throw StoreError.notFound("enrollment token '\(id)'") }
            if let audit { try await insertAudit(audit, connection) }
        }
    }

    public func enrollmentTokens() async throws -> [EnrollmentTokenRecord] {
        try await read { connection in
            try await connection.rows(
                "SELECT \(unescaped: EnrollmentTokenRecord.columns) FROM enrollment_tokens ORDER BY created_at, seq", logger: logger,
                EnrollmentTokenRecord.init(postgres:)
            )
        }
    }

    public func enrollmentToken(hash: String) async throws -> EnrollmentTokenRecord? {
        try await read { connection in
            try await connection.rows(
                "SELECT \(unescaped: EnrollmentTokenRecord.columns) FROM enrollment_tokens WHERE hash = \(hash)", logger: logger,
                EnrollmentTokenRecord.init(postgres:)
            ).first
        }
    }

    public func createAPIToken(name: String, role: String, hash: String, now: Date, audit: (@Sendable (APITokenRecord) -> AuditEntry)?) async throws -> APITokenRecord {
        let record = APITokenRecord(id: RecordId.random(prefix: "tk_"), name: name, role: role, createdAt: now)
        return try await write { connection in
            do {
                _ = try await connection.query(
                    "INSERT INTO api_tokens (id, name, role, hash, created_at) VALUES (\(record.id), \(name), \(role), \(hash), \(now.dbSeconds))",
                    logger: logger
                )
            } catch where Self.sqlState(error) == Self.uniqueViolation {
                throw StoreError.conflict("an API token with this secret already exists")
            }
            if let audit { try await insertAudit(audit(record), connection) }
            return record
        }
    }

    public func apiToken(hash: String) async throws -> APITokenRecord? {
        try await read { connection in
            try await connection.rows(
                "SELECT \(unescaped: APITokenRecord.columns) FROM api_tokens WHERE hash = \(hash) AND revoked_at IS NULL", logger: logger,
                APITokenRecord.init(postgres:)
            ).first
        }
    }

    public func apiTokens() async throws -> [APITokenRecord] {
        try await read { connection in
            try await connection.rows(
                "SELECT \(unescaped: APITokenRecord.columns) FROM api_tokens ORDER BY created_at, seq", logger: logger, APITokenRecord.init(postgres:)
            )
        }
    }

    public func revokeAPIToken(id: String, now: Date, audit: AuditEntry?) async throws {
        try await write { connection in
            // COALESCE keeps the first revocation time when revoked twice.
            let revoked = try await connection.count(
                "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, \(now.dbSeconds)) WHERE id = \(id) RETURNING id", logger: logger
            )
            if revoked == 0 { throw StoreError.notFound("API token '\(id)'") }
            // Its console sessions end with it (lookups also refuse a revoked token's sessions).
            _ = try await connection.query("DELETE FROM console_sessions WHERE token_id = \(id)", logger: logger)
            if let audit { try await insertAudit(audit, connection) }
        }
    }
}

extension EnrollmentTokenRecord {
    /// Decodes a row of `columns`, by position.
    init(postgres row: PostgresRow) throws {
        let reader = PostgresRowReader(row, table: "enrollment_tokens")
        self.init(
            id: try reader.value(0), createdAt: try reader.date(1), expiresAt: try reader.optionalDate(2),
            usesLeft: try reader.value(3), revokedAt: try reader.optionalDate(4)
        )
    }
}

extension APITokenRecord {
    /// Decodes a row of `columns`, by position.
    init(postgres row: PostgresRow) throws {
        let reader = PostgresRowReader(row, table: "api_tokens")
        self.init(
            id: try reader.value(0), name: try reader.value(1), role: try reader.value(2),
            createdAt: try reader.date(3), revokedAt: try reader.optionalDate(4)
        )
    }
}
