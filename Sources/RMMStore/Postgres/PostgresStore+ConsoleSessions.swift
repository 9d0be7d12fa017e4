import Foundation
import PostgresNIO

/// Web console sessions (`ConsoleSessionStore`), shared by every node on the database.
extension PostgresStore {
    public func createConsoleSession(_ session: ConsoleSessionRecord, hash: String) async throws {
        try await write { connection in
            do {
                _ = try await connection.query(
                    """
                    INSERT INTO console_sessions (id, hash, token_id, csrf_secret, created_at, expires_at, idle_expires_at)
                    VALUES (\(session.id), \(hash), \(session.tokenId), \(session.csrfSecret), \(session.createdAt.dbSeconds),
                            \(session.expiresAt.dbSeconds), \(session.idleExpiresAt.dbSeconds))
                    """,
                    logger: logger
                )
            } catch where Self.sqlState(error) == Self.uniqueViolation {
                throw StoreError.conflict("a console session with this id or secret already exists")
            }
        }
    }

    public func consoleSession(hash: String, now: Date) async throws -> ConsoleSessionLookup? {
        let seconds = now.dbSeconds
        return try await read { connection in
            try await connection.rows(
                """
                SELECT \(unescaped: ConsoleSessionSchema.lookupColumns) FROM console_sessions s JOIN api_tokens t ON t.id = s.token_id
                WHERE s.hash = \(hash) AND s.idle_expires_at > \(seconds) AND s.expires_at > \(seconds) AND t.revoked_at IS NULL
                """,
                logger: logger
            ) { row in
                let reader = PostgresRowReader(row, table: "console_sessions")
                return ConsoleSessionLookup(
                    session: ConsoleSessionRecord(
                        id: try reader.value(0), tokenId: try reader.value(1), csrfSecret: try reader.value(2),
                        createdAt: try reader.date(3), expiresAt: try reader.date(4), idleExpiresAt: try reader.date(5)
                    ),
                    token: APITokenRecord(
                        id: try reader.value(6), name: try reader.value(7), role: try reader.value(8), createdAt: try reader.date(9), revokedAt: nil
                    )
                )
            }.first
        }
    }

    public func touchConsoleSession(id: String, idleExpiresAt: Date) async throws {
        try await write { connection in
            _ = try await connection.query(
                "UPDATE console_sessions SET idle_expires_at = LEAST(\(idleExpiresAt.dbSeconds), expires_at) WHERE id = \(id)", logger: logger
            )
        }
    }

    public func deleteConsoleSession(id: String) async throws {
        try await write { connection in
            _ = try await connection.query("DELETE FROM console_sessions WHERE id = \(id)", logger: logger)
        }
    }

    @discardableResult
    public func deleteConsoleSessions(tokenId: String) async throws -> Int {
        try await write { connection in
            try await connection.count("DELETE FROM console_sessions WHERE token_id = \(tokenId) RETURNING id", logger: logger)
        }
    }

    @discardableResult
    public func deleteExpiredConsoleSessions(now: Date) async throws -> Int {
        try await write { connection in
            // idle_expires_at <= expires_at (a CHECK), so this covers both expiries.
            try await connection.count("DELETE FROM console_sessions WHERE idle_expires_at <= \(now.dbSeconds) RETURNING id", logger: logger)
        }
    }
}
