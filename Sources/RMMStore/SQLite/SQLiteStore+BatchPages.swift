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

    public func outputChunks(commandIds: [String], after cursor: OutputCursor?, versions: OutputVersions, limit: Int, maxBytes: Int,
                             belowOffset: Int) async throws -> OutputChunkPage {
        guard !commandIds.isEmpty, limit > 0, belowOffset > 0 else { return OutputChunkPage(chunks: [], more: false) }
        let list = JSONIdList.text(commandIds)
        let from = cursor ?? OutputCursor(commandId: "", stream: "", offset: -1)
        return try await read { db in
            // Each id is a range of the primary key (command_id, stream, byte_offset), visited in
            // order: the ORDER BY needs no sort, and no chunk is read before its page. Rows are
            // taken from the cursor as they come (no copy of each row) until a limit is reached.
            let rows = try Row.fetchCursor(
                db.cachedStatement(sql: """
                    SELECT command_id, stream, byte_offset, data, version FROM command_output
                    WHERE command_id IN (SELECT value FROM json_each(?)) AND version > ? AND version <= ?
                        AND (command_id, stream, byte_offset) > (?, ?, ?) AND byte_offset < ?
                    ORDER BY command_id, stream, byte_offset
                    """),
                arguments: [list, versions.after, versions.through, from.commandId, from.stream, from.offset, Int64(clamping: belowOffset)]
            )
            var chunks: [OutputChunk] = []
            var bytes = 0
            while let row = try rows.next() {
                // At least one chunk, so a page always moves its cursor on.
                if chunks.count >= limit || (!chunks.isEmpty && bytes >= maxBytes) { return OutputChunkPage(chunks: chunks, more: true) }
                let chunk = OutputChunk(commandId: try row.value(at: 0, "command_id"), stream: try row.enumValue(at: 1, "stream", as: StdStream.self),
                                        offset: try row.value(at: 2, "byte_offset"), data: try row.value(at: 3, "data"), version: try row.value(at: 4, "version"))
                bytes += chunk.data.count
                chunks.append(chunk)
            }
            return OutputChunkPage(chunks: chunks, more: false)
        }
    }

    public func commandOutputs(commandIds: [String], maxBytes: Int) async throws -> [WholeOutput] {
        guard !commandIds.isEmpty else { return [] }
        return try await read { db in
            let statement = try db.cachedStatement(sql: "SELECT stream, data FROM command_output WHERE command_id = ? ORDER BY stream, byte_offset")
            var outputs: [WholeOutput] = []
            var bytes = 0
            for id in commandIds {
                if !outputs.isEmpty && bytes >= maxBytes { break }
                var output = WholeOutput(commandId: id, stdout: Data(), stderr: Data())
                let rows = try Row.fetchCursor(statement, arguments: [id])
                while let row = try rows.next() {
                    let data: Data = try row.value(at: 1, "data")
                    if try row.enumValue(at: 0, "stream", as: StdStream.self) == .stdout { output.stdout.append(data) } else { output.stderr.append(data) }
                    bytes += data.count
                }
                outputs.append(output)
            }
            return outputs
        }
    }

    static func positioned(_ db: Database, where condition: String, order: String, _ arguments: StatementArguments) throws -> [PositionedCommand] {
        let sql = "SELECT \(CommandRecord.columns), rowid AS batch_row FROM commands WHERE \(condition) ORDER BY \(order) LIMIT ?"
        // Decoded from the cursor's row in place: a page is read on every round of a batch's stream.
        return try Array(Row.fetchCursor(db.cachedStatement(sql: sql), arguments: arguments).map { row in
            let record = try CommandRecord(row: row)
            let rowId: Int64 = try row.value(at: 18, "batch_row")
            return PositionedCommand(position: BatchPosition(version: record.version, row: rowId), record: record)
        })
    }
}
