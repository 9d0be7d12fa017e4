import Foundation
import PostgresNIO
import RMMProtocol

extension PostgresStore {
    public func appendAudit(_ entry: AuditEntry) async throws {
        let targets = try entry.encodedTargets()
        try await write { connection in try await self.insertAudit(entry, targets: targets, connection) }
    }

    /// Appends `entry` inside the caller's transaction.
    func insertAudit(_ entry: AuditEntry, _ connection: PostgresConnection) async throws {
        try await insertAudit(entry, targets: try entry.encodedTargets(), connection)
    }

    /// Appends `entry` with its targets already encoded (a JSON array), inside the caller's transaction.
    func insertAudit(_ entry: AuditEntry, targets: String, _ connection: PostgresConnection) async throws {
        _ = try await connection.query(
            """
            INSERT INTO audit_log (at, actor, token_id, role, action, targets, detail, remote)
            VALUES (\(entry.at.dbSeconds), \(entry.actor), \(entry.tokenId), \(entry.role), \(entry.action), \(targets), \(entry.detail), \(entry.remote))
            """,
            logger: logger
        )
    }

    public func auditLog(limit: Int) async throws -> [AuditEntry] {
        // A negative limit is no limit, as in SQLite (LIMIT NULL is LIMIT ALL).
        let limit: Int? = limit < 0 ? nil : limit
        return try await read { connection in
            try await connection.rows(
                "SELECT id, at, actor, token_id, role, action, targets, detail, remote FROM audit_log ORDER BY id DESC LIMIT \(limit)",
                logger: logger
            ) { row in
                let reader = PostgresRowReader(row, table: "audit_log")
                return AuditEntry(
                    id: try reader.value(0), at: try reader.date(1), actor: try reader.value(2), tokenId: try reader.value(3),
                    role: try reader.value(4), action: try reader.value(5), targets: try reader.json(6, as: [String].self),
                    detail: try reader.value(7), remote: try reader.value(8)
                )
            }
        }
    }
}
