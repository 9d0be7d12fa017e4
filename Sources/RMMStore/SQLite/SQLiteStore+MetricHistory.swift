import Foundation
import GRDB

/// Agents' metric histories (`MetricHistoryStore`).
extension SQLiteStore {
    public func saveMetricHistories(_ batch: [(agentId: String, history: Data)], now: Date) async throws {
        guard !batch.isEmpty else { return }
        try await write { db in
            let statement = try db.cachedStatement(sql: """
                INSERT INTO agent_metric_history (agent_id, history, saved_at) VALUES (?, ?, ?)
                ON CONFLICT (agent_id) DO UPDATE SET history = excluded.history, saved_at = excluded.saved_at
                """)
            for entry in batch { try statement.execute(arguments: [entry.agentId, entry.history, now.dbSeconds]) }
        }
    }

    public func metricHistory(agentId: String) async throws -> Data? {
        try await read { db in
            try Data.fetchOne(db, sql: "SELECT history FROM agent_metric_history WHERE agent_id = ?", arguments: [agentId])
        }
    }
}
