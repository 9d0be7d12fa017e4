import Foundation
import PostgresNIO
import RMMProtocol

/// The epoch-guarded move to `sent` and the sweep's read of undelivered commands.
extension PostgresStore {
    public func markSent(commandIds: [String], agentId: String, epoch: Int, reason: String?, now: Date) async throws -> SentMarking {
        let moved: Set<String>? = try await write { connection in
            // FOR SHARE holds the agent's row until COMMIT: a concurrent `recordConnect` (an
            // UPDATE of that row) waits for this move, or this waits for it and reads its epoch.
            let rows = try await connection.query(
                "SELECT epoch FROM agents WHERE id = \(agentId) FOR SHARE", logger: logger
            )
            var current: Int?
            for try await value in rows.decode(Int.self) { current = value }
            guard let current, current <= epoch else { return nil }
            guard !commandIds.isEmpty else { return [] }
            // One statement moves them and writes their events: `queued` or `sent` may become
            // `sent` (`CommandState.canMove`); any other state, or another agent's command, stays.
            let at = now.timeIntervalSinceReferenceDate
            let update: PostgresQuery = """
                WITH moved AS (
                    UPDATE commands SET state = 'sent', reason = \(reason)::text, updated_at = \(at),
                        version = \(unescaped: PostgresSchema.writerVersion)
                    WHERE id = ANY(\(commandIds)) AND agent_id = \(agentId) AND state IN ('queued', 'sent')
                    RETURNING id
                ), events AS (
                    INSERT INTO command_events (command_id, state, occurred_at, reason)
                    SELECT id, 'sent', \(at), \(reason)::text FROM moved
                )
                SELECT id FROM moved
                """
            var ids: Set<String> = []
            for try await id in try await connection.query(update, logger: logger).decode(String.self) { ids.insert(id) }
            return ids
        }
        guard let moved else {
            return .superseded(currentEpoch: try await currentEpoch(agentId: agentId))
        }
        return .marked(moved)
    }

    public func undeliveredCommandIds(agentIds: [String]) async throws -> [String: Set<String>] {
        guard !agentIds.isEmpty else { return [:] }
        return try await read { connection in
            let rows = try await connection.query(
                "SELECT agent_id, id FROM commands WHERE agent_id = ANY(\(agentIds)) AND state IN ('queued', 'sent')",
                logger: logger
            )
            var out: [String: Set<String>] = [:]
            for try await (agentId, id) in rows.decode((String, String).self) { out[agentId, default: []].insert(id) }
            return out
        }
    }

    public func agentEpochs(agentIds: [String]) async throws -> [String: Int] {
        guard !agentIds.isEmpty else { return [:] }
        return try await read { connection in
            let rows = try await connection.query("SELECT id, epoch FROM agents WHERE id = ANY(\(agentIds))", logger: logger)
            var out: [String: Int] = [:]
            for try await (agentId, epoch) in rows.decode((String, Int).self) { out[agentId] = epoch }
            return out
        }
    }

    /// The agent's epoch now (nil: no such agent), for a `superseded` answer.
    private func currentEpoch(agentId: String) async throws -> Int? {
        try await read { connection in
            var epoch: Int?
            for try await value in try await connection.query("SELECT epoch FROM agents WHERE id = \(agentId)", logger: logger).decode(Int.self) {
                epoch = value
            }
            return epoch
        }
    }
}
