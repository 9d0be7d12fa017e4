import Foundation
import GRDB
import RMMProtocol

/// Commands and their lifecycle.
extension SQLiteStore {
    public func insertCommands(_ commands: [CommandRecord], maxPendingPerAgent: Int?, audit: AuditEntry?) async throws {
        let auditTargets = try audit.map(Self.encodedTargets)
        try await write { [versions] db in
            if let limit = maxPendingPerAgent {
                let adding = Dictionary(commands.map { ($0.agentId, 1) }, uniquingKeysWith: +)
                let pending = try Self.pendingCounts(agentIds: Array(adding.keys), db)
                var over: [String: Int] = [:]
                for (agentId, count) in adding where pending[agentId, default: 0] + count > limit {
                    over[agentId] = pending[agentId, default: 0]
                }
                if !over.isEmpty { throw StoreError.tooManyPending(limit: limit, counts: over) }
            }
            var scratch = WriteScratch(versions: versions)
            for command in commands {
                // `sent` only for a command its agent's live connection takes at once (the caller
                // knows; the store records it with its history, saving a write per command).
                guard command.state == .queued || command.state == .sent else {
                    throw StoreError.conflict("command '\(command.id)' cannot be created in state \(command.state.rawValue)")
                }
                let version = try scratch.version(db)
                do {
                    try db.executeCached(
                        sql: """
                            INSERT INTO commands (\(CommandRecord.columns))
                            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                            """,
                        arguments: [
                            command.id, command.agentId, command.batchId, command.kind.rawValue, command.text,
                            command.interpreter, command.timeoutSeconds, command.createdAt.dbSeconds,
                            command.expiresAt.dbSeconds, command.state.rawValue, command.reason,
                            command.exitCode, command.signal, command.stdoutTruncated, command.stderrTruncated,
                            command.updatedAt.dbSeconds, command.createdBy, version,
                        ]
                    )
                } catch where Self.isUniqueViolation(error) {
                    throw StoreError.conflict("command '\(command.id)' already exists")
                } catch where Self.isForeignKeyViolation(error) {
                    // `agent_id` references `agents`: SQLite's own lookup is the existence check.
                    throw StoreError.notFound("agent '\(command.agentId)'")
                }
                if command.state == .sent {
                    scratch.event(command.id, .queued, at: command.createdAt, reason: nil)
                    scratch.event(command.id, .sent, at: command.createdAt, reason: command.reason)
                } else {
                    scratch.event(command.id, .queued, at: command.createdAt, reason: command.reason)
                }
            }
            try scratch.flush(db)
            if let audit, let auditTargets { try Self.insertAudit(audit, targets: auditTargets, db) }
        }
    }

    public func pendingCommandCounts(agentIds: [String]) async throws -> [String: Int] {
        try await read { db in try Self.pendingCounts(agentIds: agentIds, db) }
    }

    /// One statement for any number of agents: the ids travel as one JSON array (no limit on bound
    /// variables), and the partial index `commands_pending_by_agent` answers it without reading a row.
    static func pendingCounts(agentIds: [String], _ db: Database) throws -> [String: Int] {
        guard !agentIds.isEmpty else { return [:] }
        let ids = JSONIdList.text(agentIds)
        let rows = try Row.fetchAll(
            db.cachedStatement(sql: pendingCountsQuery), arguments: [ids]
        )
        var counts: [String: Int] = [:]
        for row in rows { counts[try row.value("agent_id", as: String.self)] = try row.value("pending", as: Int.self) }
        return counts
    }

    public func command(id: String) async throws -> CommandRecord? {
        try await read { db in try Self.command(id: id, db) }
    }

    public func commands(agentId: String?, limit: Int) async throws -> [CommandRecord] {
        try await read { db in
            if let agentId {
                return try Self.fetchCommands(
                    db, where: "agent_id = ?", order: "created_at DESC, rowid DESC LIMIT ?", [agentId, max(0, limit)]
                )
            }
            return try Self.fetchCommands(db, where: "1", order: "created_at DESC, rowid DESC LIMIT ?", [max(0, limit)])
        }
    }

    public func undeliveredCommands(agentId: String) async throws -> [CommandRecord] {
        try await read { db in
            try Self.fetchCommands(
                // Named: without statistics SQLite prefers the index in creation order, which walks
                // the agent's whole history; its unfinished commands are few and cheap to sort.
                db, where: Self.undeliveredCondition, order: "created_at, rowid", index: "commands_pending_by_agent", [agentId]
            )
        }
    }

    public func commandsOverdueForResult(now: Date, slack: Double) async throws -> [CommandRecord] {
        try await read { db in
            try Self.fetchCommands(
                db, where: Self.overdueCondition,
                order: "expires_at, rowid", [slack, now.dbSeconds]
            )
        }
    }

    public func commandsToExpire(now: Date) async throws -> [CommandRecord] {
        try await read { db in
            try Self.fetchCommands(
                db, where: Self.toExpireCondition, order: "expires_at, rowid", [now.dbSeconds]
            )
        }
    }

    /// Throws `notFound` for an unknown command (a refused move of a known one returns nil).
    public func transition(commandId: String, to state: CommandState, reason: String?, now: Date) async throws -> CommandRecord? {
        try await write { [versions] db in try Self.transition(commandId: commandId, to: state, reason: reason, now: now, versions, db) }
    }

    public func transition(commandId: String, to state: CommandState, reason: String?, now: Date, audit: AuditEntry) async throws -> CommandRecord? {
        try await write { [versions] db in
            guard let moved = try Self.transition(commandId: commandId, to: state, reason: reason, now: now, versions, db) else { return nil }
            try Self.insertAudit(audit, db)
            return moved
        }
    }

    /// Throws `notFound` for an unknown command. A non-terminal `outcome.state` is a refused move (nil).
    public func finish(commandId: String, outcome: CommandOutcome, now: Date) async throws -> CommandRecord? {
        try await write { [versions] db in try Self.finish(commandId: commandId, outcome: outcome, now: now, versions, db) }
    }

    /// `transition` inside the caller's transaction.
    static func transition(
        commandId: String, to state: CommandState, reason: String?, now: Date, _ versions: VersionCounter, _ db: Database
    ) throws -> CommandRecord? {
        guard let command = try command(id: commandId, db) else { throw StoreError.notFound("command '\(commandId)'") }
        var scratch = WriteScratch(versions: versions)
        guard var moved = move(command, to: state, reason: reason, now: now, &scratch) else { return nil }
        try saveLifecycle(&moved, &scratch, db)
        try scratch.flush(db)
        return moved
    }

    /// Moves `command` (as just read in this transaction) to `state`, or nil if the lifecycle
    /// refuses. Nothing is written yet: the event waits in `scratch`, and the caller saves the
    /// record (`saveLifecycle`) — once for several steps of one command.
    static func move(_ command: CommandRecord, to state: CommandState, reason: String?, now: Date, _ scratch: inout WriteScratch) -> CommandRecord? {
        guard let moved = command.moved(to: state, reason: reason, now: now) else { return nil }
        scratch.event(command.id, state, at: now, reason: reason)
        return moved
    }

    /// `finish` inside the caller's transaction.
    static func finish(
        commandId: String, outcome: CommandOutcome, now: Date, _ versions: VersionCounter, _ db: Database
    ) throws -> CommandRecord? {
        guard let command = try command(id: commandId, db) else { throw StoreError.notFound("command '\(commandId)'") }
        var scratch = WriteScratch(versions: versions)
        guard var ended = try end(command, outcome: outcome, now: now, &scratch, db) else { return nil }
        try saveLifecycle(&ended, &scratch, db)
        try scratch.flush(db)
        return ended
    }

    /// Ends `command` (as just read in this transaction) with `outcome`; nil if nothing changes.
    /// The output is stored, the event waits in `scratch`; the caller saves the record (`saveLifecycle`).
    static func end(_ command: CommandRecord, outcome: CommandOutcome, now: Date, _ scratch: inout WriteScratch, _ db: Database) throws -> CommandRecord? {
        let commandId = command.id
        // A redelivered result finds the command terminal already: nothing to do, nothing changes.
        guard let ended = command.ended(with: outcome, now: now) else { return nil }
        // Live output is always a prefix of the agent's whole output; store only the missing tail.
        for (stream, whole) in [(StdStream.stdout, outcome.stdout), (.stderr, outcome.stderr)] where !whole.isEmpty {
            let stored = try storedLength(commandId, stream, db)
            if whole.count > stored {
                try insertChunk(commandId, stream, offset: stored, data: Data(whole.suffix(from: whole.startIndex + stored)),
                                version: scratch.version(db), db)
            }
        }
        scratch.event(commandId, outcome.state, at: now, reason: outcome.reason)
        return ended
    }

    public func events(commandId: String) async throws -> [CommandEvent] {
        try await read { db in
            try Row.fetchAll(
                db, sql: "SELECT state, occurred_at, reason FROM command_events WHERE command_id = ? ORDER BY id",
                arguments: [commandId]
            ).map { row in
                CommandEvent(
                    commandId: commandId, state: try row.enumValue("state", as: CommandState.self),
                    at: try row.date("occurred_at"), reason: try row.value("reason")
                )
            }
        }
    }

    public func batchStateCounts(batchId: String) async throws -> [CommandState: Int] {
        try await read { db in
            var counts: [CommandState: Int] = [:]
            for row in try Row.fetchAll(db.cachedStatement(sql: "SELECT state, COUNT(*) AS n FROM commands WHERE batch_id = ? GROUP BY state"), arguments: [batchId]) {
                let name: String = row["state"]
                guard let state = CommandState(rawValue: name) else { throw StoreError.corrupt("unknown command state '\(name)'") }
                counts[state] = row["n"]
            }
            return counts
        }
    }

    public func batchPendingCount(batchId: String) async throws -> Int {
        try await read { db in try Int.fetchOne(db.cachedStatement(sql: Self.batchPendingQuery), arguments: [batchId]) ?? 0 }
    }

    public func batch(id: String) async throws -> [CommandRecord] {
        try await read { db in try Self.fetchCommands(db, where: "batch_id = ?", order: "created_at, rowid", [id]) }
    }

    static func command(id: String, _ db: Database) throws -> CommandRecord? {
        // Read on every report an agent sends: one row by its key, no list to build.
        try Row.fetchOne(db.cachedStatement(sql: "SELECT \(CommandRecord.columns) FROM commands WHERE id = ?"), arguments: [id])
            .map(CommandRecord.init(row:))
    }

    static func fetchCommands(
        _ db: Database, where condition: String, order: String, index: String? = nil, _ arguments: StatementArguments
    ) throws -> [CommandRecord] {
        // The conditions and orders are a fixed set written in this file, so caching each is bounded.
        // Decoded from the cursor's row in place, with no copy of each row first.
        try Array(Row.fetchCursor(db.cachedStatement(sql: commandsQuery(where: condition, order: order, index: index)), arguments: arguments)
            .map(CommandRecord.init(row:)))
    }

    static func commandsQuery(where condition: String, order: String, index: String? = nil) -> String {
        "SELECT \(CommandRecord.columns) FROM commands\(index.map { " INDEXED BY \($0)" } ?? "") WHERE \(condition) ORDER BY \(order)"
    }

    // The lookups of unfinished work. Each repeats `pendingCondition` so that SQLite uses the
    // partial indexes over unfinished commands (a test checks the plans).
    static let pendingCountsQuery = """
        SELECT agent_id, COUNT(*) AS pending FROM commands
        WHERE agent_id IN (SELECT value FROM json_each(?)) AND \(pendingCondition)
        GROUP BY agent_id
        """
    static let batchPendingQuery = "SELECT COUNT(*) FROM commands WHERE batch_id = ? AND \(pendingCondition)"
    static let undeliveredCondition = "agent_id = ? AND state IN ('queued', 'sent') AND \(pendingCondition)"
    static let overdueCondition = "state IN ('delivered', 'running') AND \(pendingCondition) AND expires_at + timeout_seconds + ? < ?"
    static let toExpireCondition = "state IN ('queued', 'sent') AND \(pendingCondition) AND expires_at < ?"

    /// Writes the columns a lifecycle step may change, under a new version (set on `command`).
    static func saveLifecycle(_ command: inout CommandRecord, _ scratch: inout WriteScratch, _ db: Database) throws {
        command.version = try scratch.version(db)
        try db.executeCached(
            sql: """
                UPDATE commands SET state = ?, reason = ?, exit_code = ?, signal = ?, stdout_truncated = ?,
                    stderr_truncated = ?, updated_at = ?, version = ?
                WHERE id = ?
                """,
            arguments: [
                command.state.rawValue, command.reason, command.exitCode, command.signal, command.stdoutTruncated,
                command.stderrTruncated, command.updatedAt.dbSeconds, command.version, command.id,
            ]
        )
    }
}
