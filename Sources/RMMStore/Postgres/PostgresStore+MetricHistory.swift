import Foundation
import NIOCore
import PostgresNIO

/// Agents' metric histories (`MetricHistoryStore`), shared by every node on the database.
extension PostgresStore {
    public func saveMetricHistories(_ batch: [(agentId: String, history: Data)], now: Date) async throws {
        // The last entry of an agent wins, as it would saved one by one.
        var latest: [String: Data] = [:]
        for entry in batch { latest[entry.agentId] = entry.history }
        guard !latest.isEmpty else { return }
        let entries = Array(latest)
        let ids = entries.map(\.key)
        let blobs = entries.map { ByteBuffer(bytes: $0.value) }
        let seconds = now.dbSeconds
        try await write { connection in
            _ = try await connection.query(
                """
                INSERT INTO agent_metric_history (agent_id, history, saved_at)
                SELECT h.agent_id, h.history, \(seconds) FROM UNNEST(\(ids)::text[], \(blobs)::bytea[]) AS h(agent_id, history)
                ON CONFLICT (agent_id) DO UPDATE SET history = excluded.history, saved_at = excluded.saved_at
                """,
                logger: logger
            )
        }
    }

    public func metricHistory(agentId: String) async throws -> Data? {
        try await read { connection in
            try await connection.rows("SELECT history FROM agent_metric_history WHERE agent_id = \(agentId)", logger: logger) { row in
                try PostgresRowReader(row, table: "agent_metric_history").value(0, as: Data.self)
            }.first
        }
    }
}
