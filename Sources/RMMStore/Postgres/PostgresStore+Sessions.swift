import Foundation
import PostgresNIO
import RMMProtocol

/// The epoch-guarded move to `sent` and the sweep's read of undelivered commands.
extension PostgresStore {
    public func markSent(commandIds: [String], agentId: String, epoch: Int, reason: String?, now: Date) async throws -> SentMarking {
        var binds = PostgresBindings()
        binds.append(agentId)
        binds.append(epoch)
        binds.append(commandIds)
        binds.append(reason)
        binds.append(now.timeIntervalSinceReferenceDate)
        let outcome: (current: Int, moved: Set<String>)? = try await writeAlone { connection in
            var current: Int?
            var moved: Set<String> = []
            for try await row in try await connection.run(MarkSentSQL.self, binds, logger: logger) {
                let cells = PostgresCells(row, what: "agent '\(agentId)'")
                current = try cells.value(0, "epoch", as: Int.self)
                if let id = try cells.value(1, "command_id", as: String?.self) { moved.insert(id) }
            }
            return current.map { ($0, moved) }
        }
        guard let outcome, outcome.current <= epoch else {
            return .superseded(currentEpoch: outcome?.current)
        }
        return .marked(outcome.moved)
    }

    /// The move to `sent`, one statement that commits alone: the agent's row is share-locked
    /// first (`FOR KEY SHARE`, which `recordConnect`'s `FOR UPDATE` waits for, so a new
    /// connection's epoch cannot be stored between this check and this commit, while liveness
    /// flushes and command inserts, which take weaker locks, do not queue behind it). Then only
    /// if the epoch is still the session's, `queued` or `sent` commands of that agent become
    /// `sent` (`CommandState.canMove`) with their events. One row per moved command, or one with
    /// a NULL id when none moved; no row when the agent is gone.
    enum MarkSentSQL: PostgresPreparedSQL {
        static let sql = """
            WITH guard AS (SELECT epoch FROM agents WHERE id = $1::text FOR KEY SHARE),
            moved AS (
                UPDATE commands SET state = 'sent', reason = $4::text, updated_at = $5::float8,
                    version = \(PostgresSchema.writerVersion)
                WHERE id = ANY($3::text[]) AND agent_id = $1::text AND state IN ('queued', 'sent')
                    AND (SELECT epoch FROM guard) <= $2::int8
                RETURNING id
            ), events AS (
                INSERT INTO command_events (command_id, state, occurred_at, reason)
                SELECT id, 'sent', $5::float8, $4::text FROM moved
            )
            SELECT g.epoch, m.id FROM guard g LEFT JOIN moved m ON TRUE
            """
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
}
