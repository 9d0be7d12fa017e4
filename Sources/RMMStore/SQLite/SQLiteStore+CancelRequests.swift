import Foundation
import GRDB

/// Cancel requests: two columns of the command they are about.
extension SQLiteStore {
    public func requestCancel(commandId: String, reason: String, now: Date) async throws {
        try await write { db in
            try db.execute(
                sql: """
                    UPDATE commands SET cancel_requested_at = COALESCE(cancel_requested_at, ?), cancel_reason = COALESCE(cancel_reason, ?)
                    WHERE id = ? AND \(Self.pendingCondition)
                    """,
                arguments: [now.dbSeconds, reason, commandId]
            )
            if db.changesCount == 0, try Bool.fetchOne(db, sql: "SELECT 1 FROM commands WHERE id = ?", arguments: [commandId]) == nil {
                throw StoreError.notFound("command '\(commandId)'")
            }
        }
    }

    public func requestedCancels(agentIds: [String]) async throws -> [String: [String: String]] {
        guard !agentIds.isEmpty else { return [:] }
        let ids = JSONIdList.text(agentIds)
        return try await read { db in
            // The partial index `commands_pending_by_agent` finds the agents' unfinished commands.
            let rows = try Row.fetchCursor(
                db.cachedStatement(sql: """
                    SELECT agent_id, id, COALESCE(cancel_reason, '') AS cancel_reason FROM commands INDEXED BY commands_pending_by_agent
                    WHERE agent_id IN (SELECT value FROM json_each(?)) AND state IN ('sent', 'delivered', 'running') AND \(Self.pendingCondition)
                        AND cancel_requested_at IS NOT NULL
                    """),
                arguments: [ids]
            )
            var out: [String: [String: String]] = [:]
            while let row = try rows.next() {
                out[try row.value("agent_id", as: String.self), default: [:]][try row.value("id", as: String.self)] = try row.value("cancel_reason", as: String.self)
            }
            return out
        }
    }
}
