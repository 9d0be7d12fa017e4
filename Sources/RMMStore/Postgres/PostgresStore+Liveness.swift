import Foundation
import PostgresNIO
import RMMProtocol

/// Connects and liveness flushes: single statements, so concurrent writers of one agent's row
/// queue on its row lock and each applies to the row the one before left.
extension PostgresStore {
    public func recordConnect(agentId: String, facts: AgentFacts, remote: String?, now: Date) async throws -> AgentRecord {
        // The name is the server's (given at enrollment, changed only by an operator's rename).
        var binds = PostgresBindings()
        binds.append(agentId)
        binds.append(facts.hostname)
        binds.append(facts.os)
        binds.append(facts.version)
        binds.append(now.dbSeconds)
        binds.append(remote)
        let updated = try await writeAlone { connection in
            var record: AgentRecord?
            for try await row in try await connection.run(ConnectSQL.self, binds, logger: logger) { record = try AgentRecord(postgres: row) }
            return record
        }
        guard let updated else { throw StoreError.notFound("agent '\(agentId)'") }
        return updated
    }

    /// A new connection of agent `$1`: its next epoch and the facts it reported, one statement.
    /// `FOR UPDATE` first, not the weaker lock a plain UPDATE of these columns takes: it waits for
    /// every `markSent` holding the row (`FOR KEY SHARE`) to commit, so none can mark a command
    /// sent on the epoch this replaces after the new one is stored.
    enum ConnectSQL: PostgresPreparedSQL {
        static let sql = """
            WITH locked AS (SELECT id FROM agents WHERE id = $1::text FOR UPDATE)
            UPDATE agents SET epoch = epoch + 1, hostname = $2::text, os = $3::text, version = $4::text,
                connected_since = $5::float8, last_seen_at = $5::float8, disconnected_at = NULL,
                remote_address = COALESCE($6::text, remote_address)
            WHERE id = (SELECT id FROM locked) RETURNING \(AgentRecord.columns)
            """
    }

    public func saveLiveness(agentId: String, _ liveness: AgentLiveness) async throws {
        let unknown = try await saveLiveness([(agentId: agentId, liveness: liveness)])
        if !unknown.isEmpty { throw StoreError.notFound("agent '\(agentId)'") }
    }

    @discardableResult
    public func saveLiveness(_ batch: [(agentId: String, liveness: AgentLiveness)]) async throws -> [String] {
        guard !batch.isEmpty else { return [] }
        // Encoded before the write, so the transaction does no JSON work.
        let rows = try batch.map { (agentId: $0.agentId, liveness: $0.liveness, metrics: try $0.liveness.metrics.map(StoredJSON.encode)) }
        // One statement applies each agent once; an agent listed twice gets its later flushes in
        // later rounds, so they apply in order as the single-agent method's would.
        var rounds: [[(agentId: String, liveness: AgentLiveness, metrics: String?)]] = []
        var seen: [String: Int] = [:]
        for row in rows {
            let round = seen[row.agentId, default: 0]
            seen[row.agentId] = round + 1
            if round == rounds.count { rounds.append([]) }
            rounds[round].append(row)
        }
        let distinct = Array(seen.keys).sorted()
        let updated = try await write { connection in
            // Rows locked in id order first: two nodes flushing overlapping batches then queue
            // rather than deadlock, as they could if each update locked in its own join order.
            if distinct.count > 1 {
                _ = try await connection.count("SELECT id FROM agents WHERE id = ANY(\(distinct)) ORDER BY id FOR NO KEY UPDATE", logger: logger)
            }
            var updated: Set<String> = []
            for round in rounds {
                for id in try await connection.rows(Self.livenessUpdate(round), logger: logger, { row in
                    try PostgresRowReader(row, table: "agents").value(0, as: String.self)
                }) {
                    updated.insert(id)
                }
            }
            // A row skipped for its stale epoch names a known agent: only the rest are unknown.
            let stale = Array(Set(rows.filter { $0.liveness.epoch != nil && !updated.contains($0.agentId) }.map(\.agentId))).sorted()
            if !stale.isEmpty {
                for id in try await connection.rows("SELECT id FROM agents WHERE id = ANY(\(stale))", logger: logger, { row in
                    try PostgresRowReader(row, table: "agents").value(0, as: String.self)
                }) {
                    updated.insert(id)
                }
            }
            return updated
        }
        // One per row naming an unknown agent, as SQLiteStore answers.
        return rows.filter { !updated.contains($0.agentId) }.map(\.agentId)
    }

    public func liveCounts(since: Date) async throws -> (online: Int, degraded: Int) {
        let counts = try await read { connection in
            try await connection.rows(
                """
                SELECT count(*), count(*) FILTER (WHERE last_downlink_at >= \(since.dbSeconds)) FROM agents
                WHERE revoked_at IS NULL AND connected_since IS NOT NULL AND (disconnected_at IS NULL OR disconnected_at < connected_since)
                    AND last_seen_at >= \(since.dbSeconds)
                """,
                logger: logger
            ) { row in
                let reader = PostgresRowReader(row, table: "agents")
                return (seen: try reader.value(0, as: Int.self), proven: try reader.value(1, as: Int.self))
            }.first
        }
        guard let counts else { return (0, 0) }
        return (counts.proven, counts.seen - counts.proven)
    }

    /// The liveness columns a flush may overwrite, for agents listed at most once: a NULL keeps the
    /// stored value, and a disconnect clears `connected_since` (an offline agent has no live
    /// connection to date from) unless the same flush sets it. A row carrying an epoch applies only
    /// while no newer epoch is stored (the guard of `markSent`), checked in the same statement (a
    /// `recordConnect` that committed first wins; one that commits later follows it). Returns the
    /// ids updated.
    private static func livenessUpdate(_ rows: [(agentId: String, liveness: AgentLiveness, metrics: String?)]) -> PostgresQuery {
        let ids = rows.map(\.agentId)
        let lastSeen = PostgresNullableArray(rows.map(\.liveness.lastSeenAt.dbSeconds))
        let downlink = PostgresNullableArray(rows.map(\.liveness.lastDownlinkAt.dbSeconds))
        let connected = PostgresNullableArray(rows.map(\.liveness.connectedSince.dbSeconds))
        let disconnected = PostgresNullableArray(rows.map(\.liveness.disconnectedAt.dbSeconds))
        let configVersion = PostgresNullableArray(rows.map(\.liveness.configVersionApplied))
        let rtt = PostgresNullableArray(rows.map(\.liveness.lastPongRttMs))
        let metrics = PostgresNullableArray(rows.map(\.metrics))
        let epochs = PostgresNullableArray(rows.map(\.liveness.epoch))
        return """
            UPDATE agents SET
                last_seen_at = COALESCE(f.last_seen_at, agents.last_seen_at),
                last_downlink_at = COALESCE(f.last_downlink_at, agents.last_downlink_at),
                connected_since = CASE WHEN f.connected_since IS NOT NULL THEN f.connected_since
                    WHEN f.disconnected_at IS NOT NULL THEN NULL ELSE agents.connected_since END,
                disconnected_at = COALESCE(f.disconnected_at, agents.disconnected_at),
                config_version_applied = COALESCE(f.config_version_applied, agents.config_version_applied),
                last_pong_rtt_ms = COALESCE(f.last_pong_rtt_ms, agents.last_pong_rtt_ms),
                metrics_json = COALESCE(f.metrics_json, agents.metrics_json)
            FROM UNNEST(\(ids)::text[], \(lastSeen)::float8[], \(downlink)::float8[], \(connected)::float8[], \(disconnected)::float8[],
                        \(configVersion)::int8[], \(rtt)::float8[], \(metrics)::text[], \(epochs)::int8[])
                AS f(id, last_seen_at, last_downlink_at, connected_since, disconnected_at, config_version_applied, last_pong_rtt_ms, metrics_json, epoch)
            WHERE agents.id = f.id AND (f.epoch IS NULL OR agents.epoch <= f.epoch)
            RETURNING agents.id
            """
    }
}
