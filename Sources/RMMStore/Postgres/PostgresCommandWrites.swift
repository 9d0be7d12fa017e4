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
        statement.append("WITH v AS (SELECT \(PostgresSchema.writerVersion) AS version)")
        if !rows.isEmpty { appendRowUpdate(&statement) }
        if !events.isEmpty {
            statement.append(",\n")
            appendEvents(&statement)
        }
        if !chunks.isEmpty { appendChunks(&statement) }
        if let audit {
            statement.append(",\n")
            try PostgresAuditRow.cte("a", audit, &statement)
        }
        statement.append("\nSELECT version FROM v")
        var version: Int?
        for try await value in try await connection.query(statement.query, logger: logger).decode(Int.self) { version = value }
        guard let version else { throw StoreError.corrupt("a command write returned no version") }
        return version
    }

    private func appendRowUpdate(_ statement: inout PostgresStatement) {
        let ids = statement.bind(rows.map(\.id))
        let states = statement.bind(rows.map(\.state.rawValue))
        let reasons = statement.bindNullable(rows.map(\.reason), fill: "")
        let exitCodes = statement.bindNullable(rows.map(\.exitCode), fill: 0)
        let signals = statement.bindNullable(rows.map(\.signal), fill: 0)
        let stdoutTruncated = statement.bind(rows.map(\.stdoutTruncated))
        let stderrTruncated = statement.bind(rows.map(\.stderrTruncated))
        let updated = statement.bind(rows.map(\.updatedAt.timeIntervalSinceReferenceDate))
        statement.append("""
            ,
            u AS (UPDATE commands c SET state = r.state,
                    reason = CASE WHEN r.has_reason THEN r.reason END,
                    exit_code = CASE WHEN r.has_exit_code THEN r.exit_code END,
                    signal = CASE WHEN r.has_signal THEN r.signal END,
                    stdout_truncated = r.stdout_truncated, stderr_truncated = r.stderr_truncated,
                    updated_at = r.updated_at, version = v.version
                FROM UNNEST(\(ids)::text[], \(states)::text[], \(reasons.values)::text[], \(reasons.present)::bool[],
                            \(exitCodes.values)::int4[], \(exitCodes.present)::bool[], \(signals.values)::int4[], \(signals.present)::bool[],
                            \(stdoutTruncated)::bool[], \(stderrTruncated)::bool[], \(updated)::float8[])
                    AS r(id, state, reason, has_reason, exit_code, has_exit_code, signal, has_signal, stdout_truncated, stderr_truncated, updated_at),
                    v
                WHERE c.id = r.id)
            """)
    }

    /// Appends the CTE `e` that inserts the events (no leading comma).
    private func appendEvents(_ statement: inout PostgresStatement) {
        Self.appendEvents(
            ids: events.map(\.commandId), states: events.map(\.state.rawValue),
            at: events.map(\.at.timeIntervalSinceReferenceDate), reasons: events.map(\.reason), &statement
        )
    }

    /// The CTE `e`: history events from parallel arrays, stored in their order.
    static func appendEvents(ids: [String], states: [String], at: [Double], reasons: [String?], _ statement: inout PostgresStatement) {
        let ids = statement.bind(ids)
        let states = statement.bind(states)
        let at = statement.bind(at)
        let reasons = statement.bindNullable(reasons, fill: "")
        statement.append("""
            e AS (INSERT INTO command_events (command_id, state, occurred_at, reason)
                SELECT r.command_id, r.state, r.occurred_at, CASE WHEN r.has_reason THEN r.reason END
                FROM UNNEST(\(ids)::text[], \(states)::text[], \(at)::float8[], \(reasons.values)::text[], \(reasons.present)::bool[])
                    WITH ORDINALITY AS r(command_id, state, occurred_at, reason, has_reason, n)
                ORDER BY r.n)
            """)
    }

    private func appendChunks(_ statement: inout PostgresStatement) {
        let ids = statement.bind(chunks.map(\.commandId))
        let streams = statement.bind(chunks.map(\.stream.rawValue))
        let offsets = statement.bind(chunks.map(\.offset))
        let data = statement.bind(chunks.map { ByteBuffer(bytes: $0.data) })
        statement.append("""
            ,
            o AS (INSERT INTO command_output (command_id, stream, byte_offset, data, version)
                SELECT r.command_id, r.stream, r.byte_offset, r.data, v.version
                FROM UNNEST(\(ids)::text[], \(streams)::text[], \(offsets)::int8[], \(data)::bytea[]) AS r(command_id, stream, byte_offset, data), v)
            """)
    }
}
