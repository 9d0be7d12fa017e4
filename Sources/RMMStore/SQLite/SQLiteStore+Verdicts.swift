import Foundation
import GRDB
import RMMProtocol

extension SQLiteStore {
    public func recordVerdict(_ record: VerdictRecord, keep: Int) async throws -> VerdictRecord {
        let keep = max(1, keep)
        return try await write { db in
            if let latestRow = try Row.fetchOne(db, sql: "SELECT * FROM link_verdicts WHERE agent_id = ? ORDER BY id DESC LIMIT 1", arguments: [record.agentId]) {
                var latest = try Self.verdict(latestRow)
                if record.isRepeat(of: latest) {
                    latest.lastAt = max(latest.lastAt, record.lastAt)
                    latest.count += 1
                    latest.summary = record.summary
                    latest.evidence = record.evidence
                    try db.execute(
                        sql: "UPDATE link_verdicts SET last_at = ?, count = ?, summary = ?, evidence = ? WHERE id = ?",
                        arguments: [latest.lastAt.dbSeconds, latest.count, latest.summary, latest.evidence, latest.id]
                    )
                    return latest
                }
            }
            try db.execute(
                sql: """
                    INSERT INTO link_verdicts (agent_id, verdict, source, stage, summary, evidence, first_at, last_at, count)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)
                    """,
                arguments: [record.agentId, record.verdict.rawValue, record.source.rawValue, record.stage.rawValue, record.summary, record.evidence,
                            record.firstAt.dbSeconds, record.lastAt.dbSeconds]
            )
            var stored = record
            stored.id = db.lastInsertedRowID
            stored.count = 1
            // The agent's own reports have a share of their own, so that it cannot push the
            // server's evidence (probes, handshakes) out of the history by reporting often.
            if record.source == .agentReport {
                let agentReport = LinkVerdictSource.agentReport.rawValue
                try db.execute(
                    sql: """
                        DELETE FROM link_verdicts WHERE agent_id = ? AND source = ? AND id NOT IN
                          (SELECT id FROM link_verdicts WHERE agent_id = ? AND source = ? ORDER BY id DESC LIMIT ?)
                        """,
                    arguments: [record.agentId, agentReport, record.agentId, agentReport, VerdictRecord.agentReportsKept(of: keep)]
                )
            }
            try db.execute(
                sql: "DELETE FROM link_verdicts WHERE agent_id = ? AND id NOT IN (SELECT id FROM link_verdicts WHERE agent_id = ? ORDER BY id DESC LIMIT ?)",
                arguments: [record.agentId, record.agentId, keep]
            )
            return stored
        }
    }

    public func verdicts(agentId: String, limit: Int) async throws -> [VerdictRecord] {
        let limit = max(0, limit)
        return try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM link_verdicts WHERE agent_id = ? ORDER BY id DESC LIMIT ?", arguments: [agentId, limit]).map(Self.verdict)
        }
    }

    public func noteDelay(commandIds: [String], note: String, once: String, now: Date) async throws -> [String] {
        guard !commandIds.isEmpty, note.hasPrefix(once) else { return [] }
        return try await write { db in
            var noted: [String] = []
            for id in commandIds {
                guard try String.fetchOne(db, sql: "SELECT state FROM commands WHERE id = ?", arguments: [id]) == CommandState.sent.rawValue else { continue }
                let already = try Bool.fetchOne(
                    db, sql: "SELECT EXISTS (SELECT 1 FROM command_events WHERE command_id = ? AND substr(reason, 1, length(?)) = ?)",
                    arguments: [id, once, once]) ?? false
                if already { continue }
                try db.execute(sql: "INSERT INTO command_events (command_id, state, occurred_at, reason) VALUES (?, ?, ?, ?)",
                               arguments: [id, CommandState.sent.rawValue, now.dbSeconds, note])
                noted.append(id)
            }
            return noted
        }
    }

    static func verdict(_ row: Row) throws -> VerdictRecord {
        VerdictRecord(
            id: try row.value("id", as: Int64.self), agentId: try row.value("agent_id"),
            verdict: try row.enumValue("verdict", as: LinkVerdict.self), source: try row.enumValue("source", as: LinkVerdictSource.self),
            stage: try row.enumValue("stage", as: LinkStage.self), summary: try row.value("summary"), evidence: try row.value("evidence"),
            firstAt: try row.date("first_at"), lastAt: try row.date("last_at"), count: try row.value("count")
        )
    }
}

extension SQLiteStore {
    public func latestVerdicts(agentIds: [String], only kind: LinkVerdict?) async throws -> [String: VerdictRecord] {
        guard !agentIds.isEmpty else { return [:] }
        let json = JSONIdList.text(Set(agentIds))
        let kindCondition = kind == nil ? "" : "AND verdict = ?"
        let arguments: StatementArguments = kind.map { [json, $0.rawValue] } ?? [json]
        // The newest id per agent through the (agent_id, id) index, then those rows. Of one kind,
        // the server's own evidence (a probe, a handshake) before an agent's report alone.
        let pick = kind == nil ? "MAX(id)" : "COALESCE(MAX(CASE WHEN source != 'agent-report' THEN id END), MAX(id))"
        let sql = """
            SELECT * FROM link_verdicts WHERE id IN (
                SELECT \(pick) FROM link_verdicts WHERE agent_id IN (SELECT value FROM json_each(?)) \(kindCondition) GROUP BY agent_id)
            """
        return try await read { db in
            var latest: [String: VerdictRecord] = [:]
            for row in try Row.fetchAll(db, sql: sql, arguments: arguments) {
                let record = try Self.verdict(row)
                latest[record.agentId] = record
            }
            return latest
        }
    }
}
