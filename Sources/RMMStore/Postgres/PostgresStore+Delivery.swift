import Foundation
import PostgresNIO
import RMMProtocol

/// What a session reads and writes about its agent's commands.
extension PostgresStore {
    public func undeliveredCommands(agentId: String) async throws -> [CommandRecord] {
        var binds = PostgresBindings()
        binds.append(agentId)
        return try await read { connection in
            var records: [CommandRecord] = []
            for try await row in try await connection.run(UndeliveredSQL.self, binds, logger: logger) { records.append(try CommandRecord(postgres: row)) }
            return records
        }
    }

    /// An agent's commands not yet delivered, oldest first: read by a session at every connect
    /// and, across nodes, at every work signal.
    enum UndeliveredSQL: PostgresPreparedSQL {
        static let sql = """
            SELECT \(CommandRecord.columns) FROM commands
            WHERE agent_id = $1::text AND state IN ('queued', 'sent') ORDER BY created_at, seq
            """
    }

    public func command(id: String) async throws -> CommandRecord? {
        try await read { connection in
            try await connection.commands("SELECT \(unescaped: CommandRecord.columns) FROM commands WHERE id = \(id)", logger: logger).first
        }
    }

    /// Throws `notFound` for an unknown command (a refused move of a known one returns nil).
    public func transition(commandId: String, to state: CommandState, reason: String?, now: Date) async throws -> CommandRecord? {
        try await move(commandId: commandId, to: state, reason: reason, now: now, audit: nil)
    }

    public func recordReports(_ reports: [CommandReport], agentId: String, now: Date) async throws -> [ReportEffect] {
        guard !reports.isEmpty else { return [] }
        let steps = reports.map { (commandId: $0.commandId, step: $0.postgresStep) }
        let reports = AgentReports(agentId: agentId, steps: steps, now: now)
        return try await reportWriter.submit(reports, bytes: reports.bytes) { batch in await self.commitReports(batch) }
    }

    public func appendOutput(commandId: String, stream: StdStream, offset: Int, data: Data, cap: Int) async throws -> Bool {
        let step = PostgresReportRun.Step.output(stream, offset: offset, data: data, cap: cap)
        let effect = try await write { connection in
            var run = try await PostgresReportRun.load([(commandId, step)], connection, logger: logger)
            // An output step records no time.
            let effect = run.apply(commandId, step, agentId: nil, now: .distantPast)
            return try await run.flush([effect], connection, logger: logger)[0]
        }
        if case .changed = effect { return true }
        return false
    }

    /// Throws `notFound` for an unknown command. A non-terminal `outcome.state` is a refused move (nil).
    public func finish(commandId: String, outcome: CommandOutcome, now: Date) async throws -> CommandRecord? {
        let step = PostgresReportRun.Step.finish(outcome)
        let effect = try await write { connection in
            var run = try await PostgresReportRun.load([(commandId, step)], connection, logger: logger)
            let effect = run.apply(commandId, step, agentId: nil, now: now)
            return try await run.flush([effect], connection, logger: logger)[0]
        }
        switch effect {
        case .changed(let record): return record
        case .unchanged: return nil
        case .unknown, .notOwned: throw StoreError.notFound("command '\(commandId)'")
        }
    }

    /// `transition`, with `audit` appended in the same statement when the move is made: one
    /// atomic statement, whose condition on the state is checked again against the row as
    /// locked, so of two nodes making one move at once exactly one makes it.
    func move(commandId: String, to state: CommandState, reason: String?, now: Date, audit: AuditEntry?) async throws -> CommandRecord? {
        try await writeAlone { connection in
            if let moved = try await runMove(commandId: commandId, to: state, reason: reason, now: now, agentId: nil, audit: audit, connection) { return moved }
            let known = try await connection.query("SELECT 1 FROM commands WHERE id = \(commandId)", logger: logger)
            for try await _ in known { return nil }
            throw StoreError.notFound("command '\(commandId)'")
        }
    }

    /// An agent's report that moves a command, as `recordReports` applies it, in one statement.
    func moveReported(commandId: String, to state: CommandState, reason: String?, agentId: String, now: Date) async throws -> ReportEffect {
        try await writeAlone { connection in
            if let moved = try await runMove(commandId: commandId, to: state, reason: reason, now: now, agentId: agentId, audit: nil, connection) { return .changed(moved) }
            // Refused: say why, from the row as it stands.
            let found = try await connection.commands(
                "SELECT \(unescaped: CommandRecord.columns) FROM commands WHERE id = \(commandId)", logger: logger
            ).first
            guard let command = found else { return .unknown }
            return command.agentId == agentId ? .unchanged(command) : .notOwned
        }
    }

    /// The moved command, if the move was made: `MoveSQL`, prepared, or with `audit` the same
    /// statement with the audit row appended (an operator's action, rare).
    private func runMove(
        commandId: String, to state: CommandState, reason: String?, now: Date, agentId: String?, audit: AuditEntry?, _ connection: PostgresConnection
    ) async throws -> CommandRecord? {
        var statement = PostgresStatement()
        // `MoveSQL`'s $1…$6, in its order.
        _ = statement.bind(commandId)
        _ = statement.bind(state.rawValue)
        _ = statement.bind(reason)
        _ = statement.bind(now.timeIntervalSinceReferenceDate)
        _ = statement.bind(CommandState.allCases.filter { $0.canMove(to: state) }.map(\.rawValue))
        _ = statement.bind(agentId)
        guard let audit else {
            var moved: CommandRecord?
            for try await row in try await connection.run(MoveSQL.self, statement.bindings, logger: logger) { moved = try CommandRecord(postgres: row) }
            return moved
        }
        statement.append(MoveSQL.ctes + ",\n")
        try PostgresAuditRow.cte("a", audit, when: "EXISTS (SELECT 1 FROM u)", &statement)
        statement.append("\nSELECT \(CommandRecord.columns) FROM u")
        return try await connection.commands(statement.query, logger: logger).first
    }

    /// A move: the update only where the lifecycle allows it (`$5`, the states that may move to
    /// `$2`) and, with an agent (`$6`), only on that agent's command; and its event.
    enum MoveSQL: PostgresPreparedSQL {
        static let ctes = """
            WITH u AS (UPDATE commands SET state = $2::text, reason = $3::text, updated_at = $4::float8,
                        version = \(PostgresSchema.writerVersion)
                    WHERE id = $1::text AND state = ANY($5::text[]) AND agent_id = COALESCE($6::text, agent_id)
                    RETURNING \(CommandRecord.columns)),
                e AS (INSERT INTO command_events (command_id, state, occurred_at, reason) SELECT id, state, updated_at, reason FROM u)
            """
        static let sql = ctes + "\nSELECT \(CommandRecord.columns) FROM u"
    }
}
