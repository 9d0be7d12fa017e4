import Foundation
import PostgresNIO
import RMMProtocol

/// What one store write changes on commands (their rows, history events and output chunks),
/// kept until its end and then written in one statement, under the transaction's version.
///
/// Why: every step of every command of a fan-out is a write; one round trip per row would make
/// each report cost several.
struct PostgresCommandWrites {
    private struct Event {
        var commandId: String
        var state: CommandState
        var at: Date
        var reason: String?
    }

    private struct Chunk {
        var commandId: String
        var stream: StdStream
        var offset: Int
        var data: Data
    }

    /// The last record of each changed command, in the order of their first change.
    private var rows: [CommandRecord] = []
    private var rowIndex: [String: Int] = [:]
    private var events: [Event] = []
    private var chunks: [Chunk] = []

    var isEmpty: Bool { rows.isEmpty && events.isEmpty && chunks.isEmpty }

    /// Saves `record`'s lifecycle columns at the end (the last record saved for an id wins).
    mutating func save(_ record: CommandRecord) {
        if let index = rowIndex[record.id] {
            rows[index] = record
        } else {
            rowIndex[record.id] = rows.count
            rows.append(record)
        }
    }

    /// A history event, stored in the order added.
    mutating func event(_ commandId: String, _ state: CommandState, at: Date, reason: String?) {
        events.append(Event(commandId: commandId, state: state, at: at, reason: reason))
    }

    /// An output chunk; its command's row must be saved too (its version covers its output).
    mutating func chunk(_ commandId: String, _ stream: StdStream, offset: Int, data: Data) {
        chunks.append(Chunk(commandId: commandId, stream: stream, offset: offset, data: data))
    }

    /// Writes everything in one statement (with `audit`, appended too) and returns the version
    /// the saved rows now have; nil, writing nothing, when there is nothing to write.
    func flush(_ connection: PostgresConnection, logger: Logger, audit: AuditEntry? = nil) async throws -> Int? {
        guard !isEmpty else { return nil }
        var statement = PostgresStatement()
        bindArrays(&statement)
        let version: Int?
        if let audit {
            // An operator's action, rare: its audit row makes the statement's shape its own.
            statement.append(FlushSQL.ctes + ",\n")
            try PostgresAuditRow.cte("a", audit, &statement)
            statement.append("\nSELECT version FROM v")
            version = try await Self.version(of: connection.query(statement.query, logger: logger))
        } else {
            version = try await Self.version(of: connection.run(FlushSQL.self, statement.bindings, logger: logger))
        }
        guard let version else { throw StoreError.corrupt("a command write returned no version") }
        return version
    }

    /// The version the flush's one row returns.
    private static func version<Rows: AsyncSequence>(of rows: Rows) async throws -> Int? where Rows.Element == PostgresRow {
        var version: Int?
        for try await row in rows { version = try PostgresCells(row, what: "a command write").value(0, "version", as: Int.self) }
        return version
    }

    /// Binds the rows, events and chunks as `FlushSQL`'s `$1…$20`, in that order (an empty
    /// array where a write has none: the statement keeps one shape, so it is prepared once).
    private func bindArrays(_ statement: inout PostgresStatement) {
        _ = statement.bind(rows.map(\.id))
        _ = statement.bind(rows.map(\.state.rawValue))
        _ = statement.bindNullable(rows.map(\.reason), fill: "")
        _ = statement.bindNullable(rows.map(\.exitCode), fill: 0)
        _ = statement.bindNullable(rows.map(\.signal), fill: 0)
        _ = statement.bind(rows.map(\.stdoutTruncated))
        _ = statement.bind(rows.map(\.stderrTruncated))
        _ = statement.bind(rows.map(\.updatedAt.timeIntervalSinceReferenceDate))
        _ = statement.bind(events.map(\.commandId))
        _ = statement.bind(events.map(\.state.rawValue))
        _ = statement.bind(events.map(\.at.timeIntervalSinceReferenceDate))
        _ = statement.bindNullable(events.map(\.reason), fill: "")
        _ = statement.bind(chunks.map(\.commandId))
        _ = statement.bind(chunks.map(\.stream.rawValue))
        _ = statement.bind(chunks.map(\.offset))
        _ = statement.bind(chunks.map { ByteBuffer(bytes: $0.data) })
    }

    /// The write of commands' rows (`u`), their events in order (`e`) and output chunks (`o`),
    /// all under the transaction's version (`v`).
    enum FlushSQL: PostgresPreparedSQL {
        static let ctes = """
            WITH v AS (SELECT \(PostgresSchema.writerVersion) AS version),
            u AS (UPDATE commands c SET state = r.state,
                    reason = CASE WHEN r.has_reason THEN r.reason END,
                    exit_code = CASE WHEN r.has_exit_code THEN r.exit_code END,
                    signal = CASE WHEN r.has_signal THEN r.signal END,
                    stdout_truncated = r.stdout_truncated, stderr_truncated = r.stderr_truncated,
                    updated_at = r.updated_at, version = v.version
                FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bool[], $5::int4[], $6::bool[], $7::int4[], $8::bool[],
                            $9::bool[], $10::bool[], $11::float8[])
                    AS r(id, state, reason, has_reason, exit_code, has_exit_code, signal, has_signal, stdout_truncated, stderr_truncated, updated_at),
                    v
                WHERE c.id = r.id),
            \(PostgresCommandWrites.eventsCTE(ids: "$12", states: "$13", at: "$14", reasons: "$15", present: "$16")),
            o AS (INSERT INTO command_output (command_id, stream, byte_offset, data, version)
                SELECT r.command_id, r.stream, r.byte_offset, r.data, v.version
                FROM UNNEST($17::text[], $18::text[], $19::int8[], $20::bytea[]) AS r(command_id, stream, byte_offset, data), v)
            """
        static let sql = ctes + "\nSELECT version FROM v"
    }

    /// The CTE `e`: history events from parallel arrays, stored in their order.
    static func appendEvents(ids: [String], states: [String], at: [Double], reasons: [String?], _ statement: inout PostgresStatement) {
        let ids = statement.bind(ids)
        let states = statement.bind(states)
        let at = statement.bind(at)
        let reasons = statement.bindNullable(reasons, fill: "")
        statement.append(eventsCTE(ids: ids, states: states, at: at, reasons: reasons.values, present: reasons.present))
    }

    /// The text of the CTE `e` (no leading comma), its arrays at the placeholders given.
    static func eventsCTE(ids: String, states: String, at: String, reasons: String, present: String) -> String {
        """
        e AS (INSERT INTO command_events (command_id, state, occurred_at, reason)
            SELECT r.command_id, r.state, r.occurred_at, CASE WHEN r.has_reason THEN r.reason END
            FROM UNNEST(\(ids)::text[], \(states)::text[], \(at)::float8[], \(reasons)::text[], \(present)::bool[])
                WITH ORDINALITY AS r(command_id, state, occurred_at, reason, has_reason, n)
            ORDER BY r.n)
        """
    }
}
