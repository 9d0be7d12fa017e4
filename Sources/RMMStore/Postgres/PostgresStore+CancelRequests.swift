import Foundation
import PostgresNIO

/// Cancel requests: two columns of the command they are about, set in one statement.
extension PostgresStore {
    public func requestCancel(commandId: String, reason: String, now: Date) async throws {
        let found = try await write { connection in
            // The row, pending or not, with whether this statement recorded the request on it.
            try await connection.rows(
                """
                WITH asked AS (
                    UPDATE commands SET cancel_requested_at = COALESCE(cancel_requested_at, \(now.dbSeconds)),
                        cancel_reason = COALESCE(cancel_reason, \(reason))
                    WHERE id = \(commandId) AND state IN ('queued', 'sent', 'delivered', 'running')
                    RETURNING id
                )
                SELECT id FROM asked UNION ALL SELECT id FROM commands WHERE id = \(commandId) AND NOT EXISTS (SELECT 1 FROM asked)
                """,
                logger: logger
            ) { row in try PostgresRowReader(row, table: "commands").value(0, as: String.self) }
        }
        if found.isEmpty { throw StoreError.notFound("command '\(commandId)'") }
    }

    public func requestedCancels(agentIds: [String]) async throws -> [String: [String: String]] {
        guard !agentIds.isEmpty else { return [:] }
        return try await read { connection in
            let rows = try await connection.query(
                """
                SELECT agent_id, id, COALESCE(cancel_reason, '') FROM commands
                WHERE agent_id = ANY(\(agentIds)) AND state IN ('sent', 'delivered', 'running') AND cancel_requested_at IS NOT NULL
                """,
                logger: logger
            )
            var out: [String: [String: String]] = [:]
            for try await (agentId, id, reason) in rows.decode((String, String, String).self) { out[agentId, default: [:]][id] = reason }
            return out
        }
    }
}
