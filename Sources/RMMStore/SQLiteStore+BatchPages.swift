import Foundation
import GRDB
import RMMProtocol

/// A batch read in bounded pages: the API streams a batch's changes and results from these, so
/// the memory one request holds is a page, whatever the batch's size or its output's.
extension SQLiteStore {
    public func batchTopVersion(batchId: String) async throws -> Int? {
        // Answered from `commands_by_batch_version` alone.
        try await read { db in try Int.fetchOne(db.cachedStatement(sql: "SELECT MAX(version) FROM commands WHERE batch_id = ?"), arguments: [batchId]) }
    }

    public func batchChangedCommands(batchId: String, after version: Int, from position: BatchPosition?, limit: Int) async throws -> [PositionedCommand] {
        let start = position ?? BatchPosition(version: version, row: Int64.max)
        return try await read { db in
            // (version, rowid) is the order of `commands_by_batch_version`: each page is an index range.
            try Self.positioned(db, where: "batch_id = ? AND version > ? AND (version > ? OR (version = ? AND rowid > ?))",
                                order: "version, rowid", [batchId, version, start.version, start.version, start.row, max(0, limit)])
        }
    }

    public func batchCommands(batchId: String, afterRow row: Int64, limit: Int) async throws -> [PositionedCommand] {
        try await read { db in
            try Self.positioned(db, where: "batch_id = ? AND rowid > ?", order: "rowid", [batchId, row, max(0, limit)])
        }
    }

    public func outputChunks(commandIds: [String], after cursor: OutputCursor?, versions: OutputVersions, limit: Int) async throws -> [OutputChunk] {
        guard !commandIds.isEmpty else { return [] }
        let list = JSONIdList.text(commandIds)
        let from = cursor ?? OutputCursor(commandId: "", stream: "", offset: -1)
        return try await read { db in
            // Each id is a range of the primary key (command_id, stream, byte_offset), visited in
            // order: the ORDER BY needs no sort, and no chunk is read before its page.
            try Row.fetchAll(
                db.cachedStatement(sql: """
                    SELECT command_id, stream, byte_offset, data, version FROM command_output
                    WHERE command_id IN (SELECT value FROM json_each(?)) AND version > ? AND version <= ?
                        AND (command_id, stream, byte_offset) > (?, ?, ?)
                    ORDER BY command_id, stream, byte_offset LIMIT ?
                    """),
                arguments: [list, versions.after, versions.through, from.commandId, from.stream, from.offset, max(0, limit)]
            ).map { row in
                OutputChunk(commandId: try row.value("command_id"), stream: try row.enumValue("stream", as: StdStream.self),
                            offset: try row.value("byte_offset"), data: try row.value("data"), version: try row.value("version"))
            }
        }
    }

    public func commandsWithOutput(ids: [String], versions: OutputVersions) async throws -> Set<String> {
        guard !ids.isEmpty else { return [] }
        // The ids travel as one JSON array (no limit on bound variables); each is a primary-key range.
        let list = JSONIdList.text(ids)
        return try await read { db in
            Set(try String.fetchAll(
                db.cachedStatement(sql: """
                    SELECT DISTINCT command_id FROM command_output
                    WHERE command_id IN (SELECT value FROM json_each(?)) AND version > ? AND version <= ?
                    """),
                arguments: [list, versions.after, versions.through]
            ))
        }
    }

    static func positioned(_ db: Database, where condition: String, order: String, _ arguments: StatementArguments) throws -> [PositionedCommand] {
        let sql = "SELECT \(CommandRecord.columns), rowid AS batch_row FROM commands WHERE \(condition) ORDER BY \(order) LIMIT ?"
        return try Row.fetchAll(db.cachedStatement(sql: sql), arguments: arguments).map { row in
            let record = try CommandRecord(row: row)
            let rowId: Int64 = try row.value(at: 18, "batch_row")
            return PositionedCommand(position: BatchPosition(version: record.version, row: rowId), record: record)
        }
    }
}
