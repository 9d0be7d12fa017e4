import Foundation
import PostgresNIO
import RMMProtocol

/// Column decoding for the PostgreSQL store: a NULL where a value belongs, a value of the wrong
/// type or an unknown state or stream name throws `StoreError.corrupt` naming the row, never traps.
struct PostgresCells {
    private let row: PostgresRandomAccessRow
    /// Names the row in errors, such as "command c_1".
    var what: String

    init(_ row: PostgresRow, what: String) {
        self.row = PostgresRandomAccessRow(row)
        self.what = what
    }

    /// The value of column `index` (named `column` in errors).
    func value<T: PostgresDecodable>(_ index: Int, _ column: String, as type: T.Type = T.self) throws -> T {
        guard index < row.count else { throw StoreError.corrupt("\(what): no column \(column)") }
        do {
            return try row[index].decode(T.self)
        } catch {
            throw StoreError.corrupt("\(what): column \(column) unreadable (\(error))")
        }
    }

    /// Seconds since the reference date as a `Date`, bit for bit.
    func date(_ index: Int, _ column: String) throws -> Date {
        Date(timeIntervalSinceReferenceDate: try value(index, column, as: Double.self))
    }

    func enumValue<E: RawRepresentable>(_ index: Int, _ column: String, as type: E.Type) throws -> E where E.RawValue == String {
        let raw = try value(index, column, as: String.self)
        guard let parsed = E(rawValue: raw) else { throw StoreError.corrupt("\(what): column \(column) has unknown value '\(raw)'") }
        return parsed
    }

}

extension CommandRecord {
    /// `CommandRecord.columns` followed by `seq`: a command and its place in creation order.
    static let positionedColumns = "\(columns), seq"

    /// Decodes a row of `CommandRecord.columns` (by position, in that order).
    init(postgres row: PostgresRow) throws {
        var cells = PostgresCells(row, what: "a command row")
        cells.what = "command \((try? cells.value(0, "id", as: String.self)) ?? "(no id)")"
        self.init(
            id: try cells.value(0, "id"), agentId: try cells.value(1, "agent_id"), batchId: try cells.value(2, "batch_id"),
            kind: try cells.enumValue(3, "kind", as: CommandSpec.Kind.self), text: try cells.value(4, "text"),
            interpreter: try cells.value(5, "interpreter"), timeoutSeconds: try cells.value(6, "timeout_seconds"),
            createdAt: try cells.date(7, "created_at"), expiresAt: try cells.date(8, "expires_at"),
            state: try cells.enumValue(9, "state", as: CommandState.self), reason: try cells.value(10, "reason"),
            exitCode: try cells.value(11, "exit_code"), signal: try cells.value(12, "signal"),
            stdoutTruncated: try cells.value(13, "stdout_truncated"), stderrTruncated: try cells.value(14, "stderr_truncated"),
            updatedAt: try cells.date(15, "updated_at"), createdBy: try cells.value(16, "created_by"),
            version: try cells.value(17, "version")
        )
    }
}

extension PositionedCommand {
    /// Decodes a row of `CommandRecord.positionedColumns`.
    init(postgres row: PostgresRow) throws {
        let record = try CommandRecord(postgres: row)
        let seq = try PostgresCells(row, what: "command \(record.id)").value(18, "seq", as: Int64.self)
        self.init(position: BatchPosition(version: record.version, row: seq), record: record)
    }
}

extension OutputChunk {
    /// Decodes a row of command_id, stream, byte_offset, data, version.
    init(postgres row: PostgresRow) throws {
        var cells = PostgresCells(row, what: "an output chunk")
        let commandId = try cells.value(0, "command_id", as: String.self)
        cells.what = "output chunk of command \(commandId)"
        self.init(
            commandId: commandId, stream: try cells.enumValue(1, "stream", as: StdStream.self),
            offset: try cells.value(2, "byte_offset"), data: try cells.value(3, "data"), version: try cells.value(4, "version")
        )
    }
}

extension PostgresConnection {
    /// The commands `query` selects (`CommandRecord.columns`), in its order.
    func commands(_ query: PostgresQuery, logger: Logger) async throws -> [CommandRecord] {
        var records: [CommandRecord] = []
        for try await row in try await self.query(query, logger: logger) { records.append(try CommandRecord(postgres: row)) }
        return records
    }
}
