import Foundation
import PostgresNIO
import RMMProtocol

/// Steps on commands applied in one transaction of the PostgreSQL store: an agent's reports, or
/// one `transition`, `appendOutput` or `finish`.
///
/// The commands named are locked first (`FOR UPDATE`, in id order, so runs on overlapping
/// commands queue rather than deadlock), and the stored lengths of the streams a step may write
/// are read after the lock, so every decision is made on rows no other node can change until
/// this transaction ends. Each step then starts from the record the one before it left, and
/// everything is written at the end in one statement (`PostgresCommandWrites`).
struct PostgresReportRun {
    /// One step on one command.
    enum Step {
        case move(CommandState, reason: String?)
        case output(StdStream, offset: Int, data: Data, cap: Int)
        case finish(CommandOutcome)

        /// Whether the step may store output, and so needs the stored lengths.
        var writesOutput: Bool {
            switch self {
            case .move: return false
            case .output(_, _, let data, _): return !data.isEmpty
            case .finish(let outcome): return !outcome.stdout.isEmpty || !outcome.stderr.isEmpty
            }
        }
    }

    private struct StreamKey: Hashable {
        var commandId: String
        var stream: StdStream
    }

    private var latest: [String: CommandRecord] = [:]
    private var lengths: [StreamKey: Int] = [:]
    private var writes = PostgresCommandWrites()
    /// The commands whose rows the writes save.
    private var saved: Set<String> = []

    /// Locks and reads the commands `steps` name, and the stored lengths of those whose steps may write output.
    static func load(_ steps: [(commandId: String, step: Step)], _ connection: PostgresConnection, logger: Logger) async throws -> PostgresReportRun {
        var run = PostgresReportRun()
        let ids = Array(Set(steps.map(\.commandId))).sorted()
        var locked = PostgresBindings()
        locked.append(ids)
        for try await row in try await connection.run(LockCommandsSQL.self, locked, logger: logger) {
            let record = try CommandRecord(postgres: row)
            run.latest[record.id] = record
        }
        let writers = Array(Set(steps.filter { $0.step.writesOutput && run.latest[$0.commandId] != nil }.map(\.commandId))).sorted()
        guard !writers.isEmpty else { return run }
        // A separate statement after the lock: its snapshot holds every chunk committed before it.
        var lengths = PostgresBindings()
        lengths.append(writers)
        for try await row in try await connection.run(StoredLengthsSQL.self, lengths, logger: logger) {
            let cells = PostgresCells(row, what: "stored output length")
            if let length = try cells.value(2, "length", as: Int?.self) {
                run.lengths[StreamKey(commandId: try cells.value(0, "command_id"), stream: try cells.enumValue(1, "stream", as: StdStream.self))] = length
            }
        }
        return run
    }

    /// The commands named by `$1`, locked in id order.
    enum LockCommandsSQL: PostgresPreparedSQL {
        static let sql = "SELECT \(CommandRecord.columns) FROM commands WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE"
    }

    /// The stored length of each stream of each command named by `$1` (NULL: nothing stored).
    enum StoredLengthsSQL: PostgresPreparedSQL {
        static let sql = """
            SELECT i.id, s.stream, (SELECT o.byte_offset + length(o.data) FROM command_output o
                                    WHERE o.command_id = i.id AND o.stream = s.stream ORDER BY o.byte_offset DESC LIMIT 1)
            FROM UNNEST($1::text[]) AS i(id) CROSS JOIN (VALUES ('stdout'), ('stderr')) AS s(stream)
            """
    }

    /// Applies one step, as `SQLiteStore` does: nothing for an unknown command or, with
    /// `agentId`, another agent's.
    mutating func apply(_ commandId: String, _ step: Step, agentId: String?, now: Date) -> ReportEffect {
        guard let command = latest[commandId] else { return .unknown }
        if let agentId, command.agentId != agentId { return .notOwned }
        switch step {
        case .move(let state, let reason):
            guard let moved = command.moved(to: state, reason: reason, now: now) else { return .unchanged(command) }
            writes.event(commandId, state, at: now, reason: reason)
            return save(moved)
        case .output(let stream, let offset, let data, let cap):
            guard !command.state.isTerminal else { return .unchanged(command) }
            let key = StreamKey(commandId: commandId, stream: stream)
            let stored = lengths[key] ?? 0
            // Only the exact next bytes are accepted, so stored output stays a gapless prefix.
            guard offset == stored, stored + data.count <= cap else { return .unchanged(command) }
            if data.isEmpty { return .changed(command) }
            writes.chunk(commandId, stream, offset: offset, data: data)
            lengths[key] = stored + data.count
            // The command's version covers its output too, so a batch feed lists it as changed.
            return save(command)
        case .finish(let outcome):
            guard let ended = command.ended(with: outcome, now: now) else { return .unchanged(command) }
            // Live output is always a prefix of the agent's whole output; store only the missing tail.
            for (stream, whole) in [(StdStream.stdout, outcome.stdout), (.stderr, outcome.stderr)] where !whole.isEmpty {
                let key = StreamKey(commandId: commandId, stream: stream)
                let stored = lengths[key] ?? 0
                if whole.count > stored {
                    writes.chunk(commandId, stream, offset: stored, data: Data(whole.suffix(from: whole.startIndex + stored)))
                    lengths[key] = whole.count
                }
            }
            writes.event(commandId, outcome.state, at: now, reason: outcome.reason)
            return save(ended)
        }
    }

    private mutating func save(_ record: CommandRecord) -> ReportEffect {
        latest[record.id] = record
        writes.save(record)
        saved.insert(record.id)
        return .changed(record)
    }

    /// Writes the run's changes (and `audit`, if anything changed) and gives every `changed`
    /// effect on a saved command the version its row now has.
    func flush(_ effects: [ReportEffect], _ connection: PostgresConnection, logger: Logger, audit: AuditEntry? = nil) async throws -> [ReportEffect] {
        guard let version = try await writes.flush(connection, logger: logger, audit: audit) else { return effects }
        return effects.map { effect in
            guard case .changed(var record) = effect, saved.contains(record.id) else { return effect }
            record.version = version
            return .changed(record)
        }
    }
}

extension CommandReport {
    /// The report as a step of a `PostgresReportRun`.
    var postgresStep: PostgresReportRun.Step {
        switch self {
        case .acknowledged(_, let reason): return .move(.delivered, reason: reason)
        case .started(_, let reason): return .move(.running, reason: reason)
        case .output(_, let stream, let offset, let data, let cap): return .output(stream, offset: offset, data: data, cap: cap)
        case .finished(_, let outcome): return .finish(outcome)
        }
    }
}
