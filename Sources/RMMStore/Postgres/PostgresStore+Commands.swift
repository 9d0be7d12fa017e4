import Foundation
import PostgresNIO
import RMMProtocol

/// Commands on the operator's side.
extension PostgresStore {
    /// Five round trips whatever the number of commands: lock their agents, read the ids taken
    /// and the pending counts, insert the commands with their events and audit entry in one
    /// statement, commit.
    public func insertCommands(_ commands: [CommandRecord], maxPendingPerAgent: Int?, audit: AuditEntry?) async throws {
        guard !commands.isEmpty || audit != nil else { return }
        let agentIds = Array(Set(commands.map(\.agentId))).sorted()
        let insert = try Self.insertStatement(commands, audit: audit)
        try await write { connection in
            // The agents' rows are locked in id order: two nodes inserting for one agent with a
            // limit take turns, and each counts what the other committed (a new statement, a new
            // snapshot); inserts without a limit only keep the agents from going away.
            var known = Set<String>()
            let lock = maxPendingPerAgent == nil ? "FOR KEY SHARE" : "FOR NO KEY UPDATE"
            for try await id in try await connection.query(
                "SELECT id FROM agents WHERE id = ANY(\(agentIds)) ORDER BY id \(unescaped: lock)", logger: logger
            ).decode(String.self) {
                known.insert(id)
            }
            let (taken, pending) = try await Self.takenAndPending(commands.map(\.id), agentIds: maxPendingPerAgent == nil ? [] : agentIds, connection, logger: logger)
            if let limit = maxPendingPerAgent {
                let adding = Dictionary(commands.map { ($0.agentId, 1) }, uniquingKeysWith: +)
                var over: [String: Int] = [:]
                for (agentId, count) in adding where pending[agentId, default: 0] + count > limit {
                    over[agentId] = pending[agentId, default: 0]
                }
                if !over.isEmpty { throw StoreError.tooManyPending(limit: limit, counts: over) }
            }
            // The same errors, in the same order, as inserting one command after the other.
            var seen = taken
            for command in commands {
                guard command.state == .queued || command.state == .sent else {
                    throw StoreError.conflict("command '\(command.id)' cannot be created in state \(command.state.rawValue)")
                }
                guard seen.insert(command.id).inserted else { throw StoreError.conflict("command '\(command.id)' already exists") }
                guard known.contains(command.agentId) else { throw StoreError.notFound("agent '\(command.agentId)'") }
            }
            var inserted = Set<String>()
            for try await id in try await connection.query(insert, logger: logger).decode(String.self) { inserted.insert(id) }
            // Another node inserted one of these ids since they were checked.
            if let lost = commands.first(where: { !inserted.contains($0.id) }) {
                throw StoreError.conflict("command '\(lost.id)' already exists")
            }
        }
    }

    /// Which of `ids` are commands already, and the non-terminal commands of `agentIds`, in one read.
    private static func takenAndPending(
        _ ids: [String], agentIds: [String], _ connection: PostgresConnection, logger: Logger
    ) async throws -> (taken: Set<String>, pending: [String: Int]) {
        var taken = Set<String>()
        var pending: [String: Int] = [:]
        let rows = try await connection.query("""
            SELECT 'taken', id, 0::bigint FROM commands WHERE id = ANY(\(ids))
            UNION ALL
            SELECT 'pending', agent_id, COUNT(*) FROM commands
            WHERE agent_id = ANY(\(agentIds)) AND state IN ('queued', 'sent', 'delivered', 'running') GROUP BY agent_id
            """, logger: logger)
        for try await (kind, id, count) in rows.decode((String, String, Int).self) {
            if kind == "taken" { taken.insert(id) } else { pending[id] = count }
        }
        return (taken, pending)
    }

    /// One statement inserting `commands` (in their order, which `seq` keeps), their history
    /// events and `audit`, returning the ids inserted (an id taken meanwhile is skipped, not an error).
    private static func insertStatement(_ commands: [CommandRecord], audit: AuditEntry?) throws -> PostgresQuery {
        var statement = PostgresStatement()
        let ids = statement.bind(commands.map(\.id)), agents = statement.bind(commands.map(\.agentId))
        let batches = statement.bind(commands.map(\.batchId)), kinds = statement.bind(commands.map(\.kind.rawValue))
        let texts = statement.bind(commands.map(\.text)), interpreters = statement.bindNullable(commands.map(\.interpreter), fill: "")
        let timeouts = statement.bind(commands.map(\.timeoutSeconds))
        let created = statement.bind(commands.map(\.createdAt.timeIntervalSinceReferenceDate))
        let expires = statement.bind(commands.map(\.expiresAt.timeIntervalSinceReferenceDate))
        let states = statement.bind(commands.map(\.state.rawValue)), reasons = statement.bindNullable(commands.map(\.reason), fill: "")
        let exitCodes = statement.bindNullable(commands.map(\.exitCode), fill: 0), signals = statement.bindNullable(commands.map(\.signal), fill: 0)
        let stdoutTruncated = statement.bind(commands.map(\.stdoutTruncated)), stderrTruncated = statement.bind(commands.map(\.stderrTruncated))
        let updated = statement.bind(commands.map(\.updatedAt.timeIntervalSinceReferenceDate)), creators = statement.bind(commands.map(\.createdBy))
        statement.append("""
            WITH i AS (INSERT INTO commands (\(CommandRecord.columns))
                SELECT r.id, r.agent_id, r.batch_id, r.kind, r.text, CASE WHEN r.has_interpreter THEN r.interpreter END,
                    r.timeout_seconds, r.created_at, r.expires_at, r.state, CASE WHEN r.has_reason THEN r.reason END,
                    CASE WHEN r.has_exit_code THEN r.exit_code END, CASE WHEN r.has_signal THEN r.signal END,
                    r.stdout_truncated, r.stderr_truncated, r.updated_at, r.created_by, \(PostgresSchema.writerVersion)
                FROM UNNEST(\(ids)::text[], \(agents)::text[], \(batches)::text[], \(kinds)::text[], \(texts)::text[],
                            \(interpreters.values)::text[], \(interpreters.present)::bool[], \(timeouts)::float8[], \(created)::float8[],
                            \(expires)::float8[], \(states)::text[], \(reasons.values)::text[], \(reasons.present)::bool[],
                            \(exitCodes.values)::int4[], \(exitCodes.present)::bool[], \(signals.values)::int4[], \(signals.present)::bool[],
                            \(stdoutTruncated)::bool[], \(stderrTruncated)::bool[], \(updated)::float8[], \(creators)::text[])
                    WITH ORDINALITY AS r(id, agent_id, batch_id, kind, text, interpreter, has_interpreter, timeout_seconds, created_at,
                        expires_at, state, reason, has_reason, exit_code, has_exit_code, signal, has_signal,
                        stdout_truncated, stderr_truncated, updated_at, created_by, n)
                ORDER BY r.n
                ON CONFLICT (id) DO NOTHING
                RETURNING id),

            """)
        // `sent` only for a command its agent's live connection takes at once (the caller knows;
        // the store records it with its history, saving a write per command).
        var events: (ids: [String], states: [String], at: [Double], reasons: [String?]) = ([], [], [], [])
        for command in commands {
            let at = command.createdAt.timeIntervalSinceReferenceDate
            if command.state == .sent {
                events.ids += [command.id, command.id]
                events.states += [CommandState.queued.rawValue, CommandState.sent.rawValue]
                events.at += [at, at]
                events.reasons += [nil, command.reason]
            } else {
                events.ids.append(command.id)
                events.states.append(CommandState.queued.rawValue)
                events.at.append(at)
                events.reasons.append(command.reason)
            }
        }
        PostgresCommandWrites.appendEvents(ids: events.ids, states: events.states, at: events.at, reasons: events.reasons, &statement)
        if let audit {
            statement.append(",\n")
            try PostgresAuditRow.cte("a", audit, &statement)
        }
        statement.append("\nSELECT id FROM i")
        return statement.query
    }

    public func transition(commandId: String, to state: CommandState, reason: String?, now: Date, audit: AuditEntry) async throws -> CommandRecord? {
        try await move(commandId: commandId, to: state, reason: reason, now: now, audit: audit)
    }

    public func pendingCommandCounts(agentIds: [String]) async throws -> [String: Int] {
        guard !agentIds.isEmpty else { return [:] }
        return try await read { connection in
            var counts: [String: Int] = [:]
            let rows = try await connection.query("""
                SELECT agent_id, COUNT(*) FROM commands
                WHERE agent_id = ANY(\(agentIds)) AND state IN ('queued', 'sent', 'delivered', 'running') GROUP BY agent_id
                """, logger: logger)
            for try await (agentId, count) in rows.decode((String, Int).self) { counts[agentId] = count }
            return counts
        }
    }

    public func commands(agentId: String?, limit: Int) async throws -> [CommandRecord] {
        try await read { connection in
            if let agentId {
                return try await connection.commands("""
                    SELECT \(unescaped: CommandRecord.columns) FROM commands WHERE agent_id = \(agentId)
                    ORDER BY created_at DESC, seq DESC LIMIT \(max(0, limit))
                    """, logger: logger)
            }
            return try await connection.commands(
                "SELECT \(unescaped: CommandRecord.columns) FROM commands ORDER BY created_at DESC, seq DESC LIMIT \(max(0, limit))", logger: logger
            )
        }
    }

    public func commandsOverdueForResult(now: Date, slack: Double) async throws -> [CommandRecord] {
        try await read { connection in
            try await connection.commands("""
                SELECT \(unescaped: CommandRecord.columns) FROM commands
                WHERE state IN ('delivered', 'running') AND expires_at + timeout_seconds + \(slack) < \(now.timeIntervalSinceReferenceDate)
                ORDER BY expires_at, seq
                """, logger: logger)
        }
    }

    public func commandsToExpire(now: Date) async throws -> [CommandRecord] {
        try await read { connection in
            try await connection.commands("""
                SELECT \(unescaped: CommandRecord.columns) FROM commands
                WHERE state IN ('queued', 'sent') AND expires_at < \(now.timeIntervalSinceReferenceDate)
                ORDER BY expires_at, seq
                """, logger: logger)
        }
    }

    public func output(commandId: String, stream: StdStream) async throws -> Data {
        try await read { connection in
            var whole = Data()
            let rows = try await connection.query("""
                SELECT data FROM command_output WHERE command_id = \(commandId) AND stream = \(stream.rawValue) ORDER BY byte_offset
                """, logger: logger)
            for try await chunk in rows.decode(Data.self) { whole.append(chunk) }
            return whole
        }
    }

    public func events(commandId: String) async throws -> [CommandEvent] {
        try await read { connection in
            var events: [CommandEvent] = []
            let rows = try await connection.query(
                "SELECT state, occurred_at, reason FROM command_events WHERE command_id = \(commandId) ORDER BY id", logger: logger
            )
            for try await row in rows {
                let cells = PostgresCells(row, what: "an event of command \(commandId)")
                events.append(CommandEvent(
                    commandId: commandId, state: try cells.enumValue(0, "state", as: CommandState.self),
                    at: try cells.date(1, "occurred_at"), reason: try cells.value(2, "reason")
                ))
            }
            return events
        }
    }
}
