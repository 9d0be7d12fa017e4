import Foundation
import GRDB
import RMMProtocol

/// The epoch-guarded move to `sent` and the sweep's read of undelivered commands.
extension SQLiteStore {
    public func markSent(commandIds: [String], agentId: String, epoch: Int, reason: String?, now: Date) async throws -> SentMarking {
        try await write { [versions] db in
            // Inside the write transaction: a `recordConnect` is either wholly before (the epoch
            // differs) or wholly after this move.
            let current = try Int.fetchOne(db, sql: "SELECT epoch FROM agents WHERE id = ?", arguments: [agentId])
            guard let current, current <= epoch else { return .superseded(currentEpoch: current) }
            var scratch = WriteScratch(versions: versions)
            var moved: Set<String> = []
            for id in commandIds {
                guard let command = try Self.command(id: id, db), command.agentId == agentId,
                      var record = Self.move(command, to: .sent, reason: reason, now: now, &scratch) else { continue }
                try Self.saveLifecycle(&record, &scratch, db)
                moved.insert(id)
            }
            try scratch.flush(db)
            return .marked(moved)
        }
    }

    public func undeliveredCommandIds(agentIds: [String]) async throws -> [String: Set<String>] {
        guard !agentIds.isEmpty else { return [:] }
        let ids = JSONIdList.text(agentIds)
        return try await read { db in
            // The partial index `commands_pending_by_agent` answers it, as it does the pending counts.
            let rows = try Row.fetchCursor(
                db.cachedStatement(sql: Self.undeliveredIdsQuery), arguments: [ids]
            )
            var out: [String: Set<String>] = [:]
            while let row = try rows.next() {
                out[try row.value("agent_id", as: String.self), default: []].insert(try row.value("id", as: String.self))
            }
            return out
        }
    }

    public func agentEpochs(agentIds: [String]) async throws -> [String: Int] {
        guard !agentIds.isEmpty else { return [:] }
        let ids = JSONIdList.text(agentIds)
        return try await read { db in
            let rows = try Row.fetchCursor(db, sql: "SELECT id, epoch FROM agents WHERE id IN (SELECT value FROM json_each(?))", arguments: [ids])
            var out: [String: Int] = [:]
            while let row = try rows.next() {
                out[try row.value("id", as: String.self)] = try row.value("epoch", as: Int.self)
            }
            return out
        }
    }

    static let undeliveredIdsQuery = """
        SELECT agent_id, id FROM commands INDEXED BY commands_pending_by_agent
        WHERE agent_id IN (SELECT value FROM json_each(?)) AND state IN ('queued', 'sent') AND \(pendingCondition)
        """
}
