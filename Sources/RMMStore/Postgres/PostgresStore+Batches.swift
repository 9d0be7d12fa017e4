import Foundation
import PostgresNIO
import RMMProtocol

/// A batch's counts, change feed and bounded pages. Every read of "what changed after a version"
/// takes only versions below `PostgresSchema.visibleHorizon`: those are final, so a reader that
/// moves past one never meets a new change at or below it.
extension PostgresStore {
    private static let horizon = "(\(PostgresSchema.visibleHorizon))"

    public func batchChanges(batchId: String, after version: Int) async throws -> BatchChanges {
        try await read { connection in
            // One horizon for both reads: what is below it is final, whatever each read's snapshot.
            var top = version
            for try await value in try await connection.query("SELECT \(unescaped: Self.horizon)", logger: logger).decode(Int.self) { top = value }
            let commands = try await connection.commands("""
                SELECT \(unescaped: CommandRecord.columns) FROM commands
                WHERE batch_id = \(batchId) AND version > \(version) AND version < \(top) ORDER BY version, seq
                """, logger: logger)
            var output: [OutputChunk] = []
            let rows = try await connection.query("""
                SELECT o.command_id, o.stream, o.byte_offset, o.data, o.version
                FROM command_output o JOIN commands c ON c.id = o.command_id
                WHERE c.batch_id = \(batchId) AND c.version > \(version) AND o.version > \(version) AND o.version < \(top)
                ORDER BY o.version, o.command_id, o.stream, o.byte_offset
                """, logger: logger)
            for try await row in rows { output.append(try OutputChunk(postgres: row)) }
            // A chunk never carries a version above its command's, but take both to be safe.
            let newest = max(commands.map(\.version).max() ?? version, output.map(\.version).max() ?? version)
            return BatchChanges(version: newest, commands: commands, output: output)
        }
    }

    public func batch(id: String) async throws -> [CommandRecord] {
        try await read { connection in
            try await connection.commands(
                "SELECT \(unescaped: CommandRecord.columns) FROM commands WHERE batch_id = \(id) ORDER BY created_at, seq", logger: logger
            )
        }
    }

    public func batchStateCounts(batchId: String) async throws -> [CommandState: Int] {
        try await read { connection in
            var counts: [CommandState: Int] = [:]
            let rows = try await connection.query("SELECT state, COUNT(*) FROM commands WHERE batch_id = \(batchId) GROUP BY state", logger: logger)
            for try await row in rows {
                let cells = PostgresCells(row, what: "the state counts of batch \(batchId)")
                counts[try cells.enumValue(0, "state", as: CommandState.self)] = try cells.value(1, "count", as: Int.self)
            }
            return counts
        }
    }

    public func batchPendingCount(batchId: String) async throws -> Int {
        try await read { connection in
            var count = 0
            // An ended command whose end is still above the horizon counts as unfinished: a
            // stream that said "done" before its version reads could show that end would lose it.
            let rows = try await connection.query("""
                SELECT (SELECT COUNT(*) FROM commands WHERE batch_id = \(batchId) AND state IN ('queued', 'sent', 'delivered', 'running'))
                    + (SELECT COUNT(*) FROM commands WHERE batch_id = \(batchId) AND version >= h.top
                        AND state NOT IN ('queued', 'sent', 'delivered', 'running'))
                FROM (SELECT \(unescaped: Self.horizon) AS top) h
                """, logger: logger)
            for try await value in rows.decode(Int.self) { count = value }
            return count
        }
    }

    /// The highest version below the horizon; for a batch whose every change is still above it,
    /// the version just below the horizon (asking after it misses none of them).
    public func batchTopVersion(batchId: String) async throws -> Int? {
        try await read { connection in
            let rows = try await connection.query("""
                SELECT EXISTS (SELECT 1 FROM commands WHERE batch_id = \(batchId)),
                    (SELECT MAX(version) FROM commands WHERE batch_id = \(batchId) AND version < h.top), h.top
                FROM (SELECT \(unescaped: Self.horizon) AS top) h
                """, logger: logger)
            for try await row in rows {
                let cells = PostgresCells(row, what: "the top version of batch \(batchId)")
                guard try cells.value(0, "exists", as: Bool.self) else { return nil }
                return try cells.value(1, "max", as: Int?.self) ?? (try cells.value(2, "horizon", as: Int.self) - 1)
            }
            return nil
        }
    }

    public func batchChangedCommands(batchId: String, after version: Int, from position: BatchPosition?, limit: Int) async throws -> [PositionedCommand] {
        let start = position ?? BatchPosition(version: version, row: Int64.max)
        return try await read { connection in
            // (version, seq) is the order of `commands_by_batch_version` then the row: each page is a range.
            try await connection.positioned("""
                SELECT \(unescaped: CommandRecord.positionedColumns) FROM commands
                WHERE batch_id = \(batchId) AND version > \(version) AND version < \(unescaped: Self.horizon)
                    AND (version, seq) > (\(start.version), \(start.row))
                ORDER BY version, seq LIMIT \(max(0, limit))
                """, logger: logger)
        }
    }

    public func batchCommands(batchId: String, afterRow row: Int64, limit: Int) async throws -> [PositionedCommand] {
        try await read { connection in
            try await connection.positioned("""
                SELECT \(unescaped: CommandRecord.positionedColumns) FROM commands
                WHERE batch_id = \(batchId) AND seq > \(row) ORDER BY seq LIMIT \(max(0, limit))
                """, logger: logger)
        }
    }

    public func outputChunks(commandIds: [String], after cursor: OutputCursor?, versions: OutputVersions, limit: Int, maxBytes: Int,
                             belowOffset: Int) async throws -> OutputChunkPage {
        guard !commandIds.isEmpty, limit > 0, belowOffset > 0 else { return OutputChunkPage(chunks: [], more: false) }
        let from = cursor ?? OutputCursor(commandId: "", stream: "", offset: -1)
        return try await read { connection in
            // In the order of the primary key (command_id, stream, byte_offset), one row past the
            // limit to say whether more follow; a chunk past the byte budget comes without its
            // bytes (it only says that more follow), so a page moves about `maxBytes`, not `limit` chunks.
            let rows = try await connection.query("""
                SELECT command_id, stream, byte_offset, CASE WHEN n = 1 OR before < \(maxBytes) THEN data END, version FROM (
                    SELECT command_id, stream, byte_offset, data, version, row_number() OVER w AS n,
                        COALESCE(SUM(length(data)) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before
                    FROM command_output
                    WHERE command_id = ANY(\(commandIds)) AND version > \(versions.after) AND version <= \(versions.through)
                        AND (command_id, stream, byte_offset) > (\(from.commandId), \(from.stream), \(from.offset))
                        AND byte_offset < \(Int64(clamping: belowOffset))
                    WINDOW w AS (ORDER BY command_id, stream, byte_offset)
                    ORDER BY command_id, stream, byte_offset LIMIT \(min(limit, Int.max - 1) + 1)
                ) page ORDER BY command_id, stream, byte_offset
                """, logger: logger)
            var chunks: [OutputChunk] = []
            for try await row in rows {
                var cells = PostgresCells(row, what: "an output chunk")
                let commandId = try cells.value(0, "command_id", as: String.self)
                cells.what = "output chunk of command \(commandId)"
                guard chunks.count < limit, let data = try cells.value(3, "data", as: Data?.self) else {
                    return OutputChunkPage(chunks: chunks, more: true)
                }
                chunks.append(OutputChunk(
                    commandId: commandId, stream: try cells.enumValue(1, "stream", as: StdStream.self),
                    offset: try cells.value(2, "byte_offset"), data: data, version: try cells.value(4, "version")
                ))
            }
            return OutputChunkPage(chunks: chunks, more: false)
        }
    }

    public func commandOutputs(commandIds: [String], maxBytes: Int) async throws -> [WholeOutput] {
        guard !commandIds.isEmpty else { return [] }
        return try await read { connection in
            // One read: the sizes decide which commands fit (each is taken while the bytes before
            // it are under `maxBytes`, the first always), then only their chunks are read.
            let rows = try await connection.query("""
                WITH i AS (SELECT id, n FROM UNNEST(\(commandIds)::text[]) WITH ORDINALITY AS i(id, n)),
                    sizes AS (SELECT i.n, COALESCE((SELECT SUM(length(data)) FROM command_output WHERE command_id = i.id), 0) AS size FROM i),
                    taken AS (SELECT n FROM (
                        SELECT n, COALESCE(SUM(size) OVER (ORDER BY n ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before FROM sizes
                    ) s WHERE n = 1 OR before < \(maxBytes))
                SELECT t.n, o.stream, o.data FROM taken t JOIN i ON i.n = t.n LEFT JOIN command_output o ON o.command_id = i.id
                ORDER BY t.n, o.stream, o.byte_offset
                """, logger: logger)
            var outputs: [WholeOutput] = []
            for try await row in rows {
                let cells = PostgresCells(row, what: "whole output")
                let index = try cells.value(0, "n", as: Int.self) - 1
                guard index >= 0, index < commandIds.count else { throw StoreError.corrupt("whole output: row for command #\(index + 1) of \(commandIds.count)") }
                while outputs.count <= index { outputs.append(WholeOutput(commandId: commandIds[outputs.count], stdout: Data(), stderr: Data())) }
                guard let data = try cells.value(2, "data", as: Data?.self) else { continue }
                if try cells.enumValue(1, "stream", as: StdStream.self) == .stdout { outputs[index].stdout.append(data) } else { outputs[index].stderr.append(data) }
            }
            return outputs
        }
    }
}

extension PostgresConnection {
    /// The commands `query` selects (`CommandRecord.positionedColumns`), in its order.
    func positioned(_ query: PostgresQuery, logger: Logger) async throws -> [PositionedCommand] {
        var page: [PositionedCommand] = []
        for try await row in try await self.query(query, logger: logger) { page.append(try PositionedCommand(postgres: row)) }
        return page
    }
}
