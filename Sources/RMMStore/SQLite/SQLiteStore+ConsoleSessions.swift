import Foundation
import GRDB

/// Web console sessions (`ConsoleSessionStore`).
extension SQLiteStore {
    public func createConsoleSession(_ session: ConsoleSessionRecord, hash: String) async throws {
        try await write { db in
            do {
                try db.execute(
                    sql: """
                        INSERT INTO console_sessions (id, hash, token_id, csrf_secret, created_at, expires_at, idle_expires_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [session.id, hash, session.tokenId, session.csrfSecret, session.createdAt.dbSeconds,
                                session.expiresAt.dbSeconds, session.idleExpiresAt.dbSeconds]
                )
            } catch where Self.isUniqueViolation(error) {
                throw StoreError.conflict("a console session with this id or secret already exists")
            }
        }
    }

    public func consoleSession(hash: String, now: Date) async throws -> ConsoleSessionLookup? {
        try await read { db in
            try Row.fetchOne(
                db,
                sql: """
                    SELECT \(ConsoleSessionSchema.lookupColumns) FROM console_sessions s JOIN api_tokens t ON t.id = s.token_id
                    WHERE s.hash = ? AND s.idle_expires_at > ? AND s.expires_at > ? AND t.revoked_at IS NULL
                    """,
                arguments: [hash, now.dbSeconds, now.dbSeconds]
            ).map { row in
                ConsoleSessionLookup(
                    session: ConsoleSessionRecord(
                        id: try row.value(at: 0, "id"), tokenId: try row.value(at: 1, "token_id"), csrfSecret: try row.value(at: 2, "csrf_secret"),
                        createdAt: try row.date(at: 3, "created_at"), expiresAt: try row.date(at: 4, "expires_at"),
                        idleExpiresAt: try row.date(at: 5, "idle_expires_at")
                    ),
                    token: APITokenRecord(
                        id: try row.value(at: 6, "id"), name: try row.value(at: 7, "name"), role: try row.value(at: 8, "role"),
                        createdAt: try row.date(at: 9, "created_at"), revokedAt: nil
                    )
                )
            }
        }
    }

    public func touchConsoleSession(id: String, idleExpiresAt: Date) async throws {
        try await write { db in
            try db.execute(
                sql: "UPDATE console_sessions SET idle_expires_at = MIN(?, expires_at) WHERE id = ?",
                arguments: [idleExpiresAt.dbSeconds, id]
            )
        }
    }

    public func deleteConsoleSession(id: String) async throws {
        try await write { db in try db.execute(sql: "DELETE FROM console_sessions WHERE id = ?", arguments: [id]) }
    }

    @discardableResult
    public func deleteConsoleSessions(tokenId: String) async throws -> Int {
        try await write { db in
            try db.execute(sql: "DELETE FROM console_sessions WHERE token_id = ?", arguments: [tokenId])
            return db.changesCount
        }
    }

    @discardableResult
    public func deleteExpiredConsoleSessions(now: Date) async throws -> Int {
        try await write { db in
            // idle_expires_at <= expires_at (a CHECK), so this covers both expiries.
            try db.execute(sql: "DELETE FROM console_sessions WHERE idle_expires_at <= ?", arguments: [now.dbSeconds])
            return db.changesCount
        }
    }
}
