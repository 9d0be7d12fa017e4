import Foundation
import GRDB

extension SQLiteStore {
    public func appendAudit(_ entry: AuditEntry) async throws {
        let targets = try Self.encodedTargets(entry)
        try await write { db in try Self.insertAudit(entry, targets: targets, db) }
    }

    /// The entry's targets as the JSON array text the `targets` column holds.
    static func encodedTargets(_ entry: AuditEntry) throws -> String {
        try entry.encodedTargets()
    }

    /// Appends `entry` inside the caller's transaction.
    static func insertAudit(_ entry: AuditEntry, _ db: Database) throws {
        try insertAudit(entry, targets: try encodedTargets(entry), db)
    }

    /// Appends `entry` with its targets already encoded, inside the caller's transaction.
    static func insertAudit(_ entry: AuditEntry, targets: String, _ db: Database) throws {
        try db.executeCached(
            sql: "INSERT INTO audit_log (at, actor, token_id, role, action, targets, detail, remote) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            arguments: [entry.at.dbSeconds, entry.actor, entry.tokenId, entry.role, entry.action, targets, entry.detail, entry.remote]
        )
    }

    public func auditLog(limit: Int) async throws -> [AuditEntry] {
        try await read { db in
            let rows = try Row.fetchAll(db, sql: "SELECT * FROM audit_log ORDER BY id DESC LIMIT ?", arguments: [limit])
            return try rows.map { row in
                let targetsText: String = row["targets"]
                guard let targets = try? JSONDecoder().decode([String].self, from: Data(targetsText.utf8)) else {
                    throw StoreError.corrupt("audit entry \(row["id"] as Int64? ?? 0) has unreadable targets")
                }
                return AuditEntry(
                    id: row["id"], at: Date(timeIntervalSinceReferenceDate: row["at"]), actor: row["actor"], tokenId: row["token_id"], role: row["role"],
                    action: row["action"], targets: targets, detail: row["detail"], remote: row["remote"]
                )
            }
        }
    }
}
