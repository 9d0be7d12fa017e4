import Foundation
import PostgresNIO
import RMMProtocol

/// Link verdict history, link diagnoses, and delay notes.
extension PostgresStore {
    /// The columns `VerdictRecord(postgres:)` decodes, in its order.
    private static let verdictColumns = "id, agent_id, verdict, source, stage, summary, evidence, first_at, last_at, count"
    /// The first key of the advisory locks that serialize one agent's verdict writes ("vd"); the
    /// second is a hash of the agent id. Two-key locks do not share the one-key locks' space.
    private static let verdictLockSpace: Int32 = 0x7664

    public func recordVerdict(_ record: VerdictRecord, keep: Int) async throws -> VerdictRecord {
        let keep = max(1, keep)
        // Only an agent report trims the agent reports to their share, as in SQLiteStore.
        let reportsKept = record.source == .agentReport ? VerdictRecord.agentReportsKept(of: keep) : Int.max
        return try await write { connection in
            // One agent's verdict writes queue here, so a repeat is never counted from a stale newest entry.
            _ = try await connection.count(
                "SELECT pg_advisory_xact_lock(\(Self.verdictLockSpace), hashtext(\(record.agentId)))", logger: logger
            )
            let latest = try await connection.rows(
                "SELECT \(unescaped: Self.verdictColumns) FROM link_verdicts WHERE agent_id = \(record.agentId) ORDER BY id DESC LIMIT 1",
                logger: logger, VerdictRecord.init(postgres:)
            ).first
            if var latest, record.isRepeat(of: latest), let id = latest.id {
                latest.lastAt = max(latest.lastAt, record.lastAt)
                latest.count += 1
                latest.summary = record.summary
                latest.evidence = record.evidence
                _ = try await connection.query(
                    """
                    UPDATE link_verdicts SET last_at = \(latest.lastAt.dbSeconds), count = \(latest.count), summary = \(latest.summary),
                        evidence = \(latest.evidence) WHERE id = \(id)
                    """,
                    logger: logger
                )
                return latest
            }
            let inserted: [Int64]
            do {
                inserted = try await connection.rows(
                    """
                    INSERT INTO link_verdicts (agent_id, verdict, source, stage, summary, evidence, first_at, last_at, count)
                    VALUES (\(record.agentId), \(record.verdict.rawValue), \(record.source.rawValue), \(record.stage.rawValue), \(record.summary),
                            \(record.evidence), \(record.firstAt.dbSeconds), \(record.lastAt.dbSeconds), 1)
                    RETURNING id
                    """,
                    logger: logger
                ) { row in try PostgresRowReader(row, table: "link_verdicts").value(0, as: Int64.self) }
            } catch where Self.sqlState(error) == Self.foreignKeyViolation {
                throw StoreError.notFound("agent '\(record.agentId)'")
            }
            var stored = record
            stored.id = inserted.first
            stored.count = 1
            // The agent's own reports have a share of their own, so that it cannot push the
            // server's evidence (probes, handshakes) out of the history by reporting often; then
            // the history keeps its newest `keep`.
            _ = try await connection.query(
                """
                WITH ranked AS (
                    SELECT id, source = 'agent-report'
                        AND row_number() OVER (PARTITION BY source = 'agent-report' ORDER BY id DESC) > \(reportsKept) AS excess
                    FROM link_verdicts WHERE agent_id = \(record.agentId)
                ), kept AS (
                    SELECT id, row_number() OVER (ORDER BY id DESC) AS n FROM ranked WHERE NOT excess
                )
                DELETE FROM link_verdicts WHERE agent_id = \(record.agentId)
                    AND id IN (SELECT id FROM ranked WHERE excess UNION ALL SELECT id FROM kept WHERE n > \(keep))
                """,
                logger: logger
            )
            return stored
        }
    }

    public func verdicts(agentId: String, limit: Int) async throws -> [VerdictRecord] {
        let limit = max(0, limit)
        return try await read { connection in
            try await connection.rows(
                "SELECT \(unescaped: Self.verdictColumns) FROM link_verdicts WHERE agent_id = \(agentId) ORDER BY id DESC LIMIT \(limit)",
                logger: logger, VerdictRecord.init(postgres:)
            )
        }
    }

    public func latestVerdicts(agentIds: [String], only kind: LinkVerdict?) async throws -> [String: VerdictRecord] {
        guard !agentIds.isEmpty else { return [:] }
        let ids = Array(Set(agentIds))
        // The newest id per agent through the (agent_id, id) index, then those rows. Of one kind,
        // the server's own evidence (a probe, a handshake) before an agent's report alone.
        let query: PostgresQuery = if let kind {
            """
            SELECT \(unescaped: Self.verdictColumns) FROM link_verdicts WHERE id IN (
                SELECT COALESCE(MAX(CASE WHEN source <> 'agent-report' THEN id END), MAX(id)) FROM link_verdicts
                WHERE agent_id = ANY(\(ids)) AND verdict = \(kind.rawValue) GROUP BY agent_id)
            """
        } else {
            """
            SELECT \(unescaped: Self.verdictColumns) FROM link_verdicts WHERE id IN (
                SELECT MAX(id) FROM link_verdicts WHERE agent_id = ANY(\(ids)) GROUP BY agent_id)
            """
        }
        let records = try await read { connection in try await connection.rows(query, logger: logger, VerdictRecord.init(postgres:)) }
        return Dictionary(records.map { ($0.agentId, $0) }, uniquingKeysWith: { first, _ in first })
    }

    public func noteDelay(commandIds: [String], note: String, once: String, now: Date) async throws -> [String] {
        guard !commandIds.isEmpty, note.hasPrefix(once) else { return [] }
        let ids = Array(Set(commandIds)).sorted()
        let sent = CommandState.sent.rawValue
        let noted = try await write { connection in
            // The sent commands are locked (in id order) before their notes are looked for: a
            // command moved on meanwhile is not noted, and concurrent notes of one command queue
            // here and the later one, reading anew, finds the earlier's note.
            _ = try await connection.count(
                "SELECT id FROM commands WHERE id = ANY(\(ids)) AND state = \(sent) ORDER BY id FOR NO KEY UPDATE", logger: logger
            )
            return try await connection.rows(
                """
                INSERT INTO command_events (command_id, state, occurred_at, reason)
                SELECT c.id, \(sent), \(now.dbSeconds), \(note) FROM commands c
                WHERE c.id = ANY(\(ids)) AND c.state = \(sent) AND NOT EXISTS (
                    SELECT 1 FROM command_events e WHERE e.command_id = c.id AND left(e.reason, length(\(once))) = \(once))
                ORDER BY c.id
                RETURNING command_id
                """,
                logger: logger
            ) { row in try PostgresRowReader(row, table: "command_events").value(0, as: String.self) }
        }
        // In the order asked, each once, as SQLiteStore answers.
        var remaining = Set(noted)
        return commandIds.filter { remaining.remove($0) != nil }
    }

    public func saveLinkDiagnosis(agentId: String, _ json: Data) async throws {
        try await write { connection in
            let saved = try await connection.count(
                "UPDATE agents SET link_diagnosis = \(json) WHERE id = \(agentId) RETURNING id", logger: logger
            )
            if saved == 0 { throw StoreError.notFound("agent '\(agentId)'") }
        }
    }

    public func linkDiagnosis(agentId: String) async throws -> Data? {
        try await read { connection in
            try await connection.rows("SELECT id, link_diagnosis FROM agents WHERE id = \(agentId)", logger: logger) { row in
                try PostgresRowReader(row, table: "agents").value(1, as: Data?.self)
            }.first ?? nil
        }
    }

    public func linkDiagnoses(agentIds: [String]) async throws -> [String: Data] {
        guard !agentIds.isEmpty else { return [:] }
        let pairs = try await read { connection in
            try await connection.rows(
                "SELECT id, link_diagnosis FROM agents WHERE id = ANY(\(Array(Set(agentIds)))) AND link_diagnosis IS NOT NULL", logger: logger
            ) { row in
                let reader = PostgresRowReader(row, table: "agents")
                return (try reader.value(0, as: String.self), try reader.value(1, as: Data.self))
            }
        }
        return Dictionary(pairs, uniquingKeysWith: { first, _ in first })
    }
}

extension VerdictRecord {
    /// Decodes a row of `PostgresStore.verdictColumns`, by position.
    init(postgres row: PostgresRow) throws {
        let reader = PostgresRowReader(row, table: "link_verdicts")
        self.init(
            id: try reader.value(0, as: Int64.self), agentId: try reader.value(1),
            verdict: try reader.enumValue(2, as: LinkVerdict.self), source: try reader.enumValue(3, as: LinkVerdictSource.self),
            stage: try reader.enumValue(4, as: LinkStage.self), summary: try reader.value(5), evidence: try reader.value(6),
            firstAt: try reader.date(7), lastAt: try reader.date(8), count: try reader.value(9)
        )
    }
}
