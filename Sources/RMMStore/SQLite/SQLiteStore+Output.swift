import Foundation
import GRDB
import RMMProtocol

/// Command output and batch change feeds.
extension SQLiteStore {
    public func appendOutput(commandId: String, stream: StdStream, offset: Int, data: Data, cap: Int) async throws -> Bool {
        try await write { [versions] db in
            try Self.appendOutput(commandId: commandId, stream: stream, offset: offset, data: data, cap: cap, versions, db)
        }
    }

    /// `appendOutput` inside the caller's transaction.
    static func appendOutput(
        commandId: String, stream: StdStream, offset: Int, data: Data, cap: Int, _ versions: VersionCounter, _ db: Database
    ) throws -> Bool {
        guard let command = try command(id: commandId, db) else { return false }
        var scratch = WriteScratch(versions: versions)
        return try appendOutput(to: command, stream: stream, offset: offset, data: data, cap: cap, &scratch, db)
    }

    /// Appends output to `command` (as just read in this transaction); false if it stores nothing.
    static func appendOutput(
        to command: CommandRecord, stream: StdStream, offset: Int, data: Data, cap: Int, _ scratch: inout WriteScratch, _ db: Database
    ) throws -> Bool {
        guard !command.state.isTerminal else { return false }
        let commandId = command.id
        let stored = try storedLength(commandId, stream, db)
        // Only the exact next bytes are accepted, so stored output stays a gapless prefix.
        guard offset == stored, stored + data.count <= cap else { return false }
        if data.isEmpty { return true }
        let version = try scratch.version(db)
        try insertChunk(commandId, stream, offset: offset, data: data, version: version, db)
        // The command's version covers its output too, so a batch feed lists it as changed.
        try db.executeCached(sql: "UPDATE commands SET version = ? WHERE id = ?", arguments: [version, commandId])
        return true
    }

    public func output(commandId: String, stream: StdStream) async throws -> Data {
        try await read { db in
            var whole = Data()
            let chunks = try Data.fetchCursor(
                db, sql: "SELECT data FROM command_output WHERE command_id = ? AND stream = ? ORDER BY byte_offset",
                arguments: [commandId, stream.rawValue]
            )
            while let chunk = try chunks.next() { whole.append(chunk) }
            return whole
        }
    }

    public func batchChanges(batchId: String, after version: Int) async throws -> BatchChanges {
        try await read { db in
            let commands = try Self.fetchCommands(db, where: "batch_id = ? AND version > ?", order: "version", [batchId, version])
            let output = try Row.fetchAll(
                db.cachedStatement(sql: """
                    SELECT o.command_id, o.stream, o.byte_offset, o.data, o.version
                    FROM command_output o JOIN commands c ON c.id = o.command_id
                    WHERE c.batch_id = ? AND c.version > ? AND o.version > ?
                    ORDER BY o.version, o.command_id, o.stream, o.byte_offset
                    """),
                arguments: [batchId, version, version]
            ).map { row in
                OutputChunk(
                    commandId: try row.value("command_id"), stream: try row.enumValue("stream", as: StdStream.self),
                    offset: try row.value("byte_offset"), data: try row.value("data"), version: try row.value("version")
                )
            }
            // A chunk never carries a version above its command's, but take both to be safe.
            let newest = max(commands.map(\.version).max() ?? version, output.map(\.version).max() ?? version)
            return BatchChanges(version: newest, commands: commands, output: output)
        }
    }

    /// Bytes stored so far for one stream: the end of its last chunk.
    static func storedLength(_ commandId: String, _ stream: StdStream, _ db: Database) throws -> Int {
        try Int.fetchOne(
            db.cachedStatement(sql: """
                SELECT byte_offset + length(data) FROM command_output
                WHERE command_id = ? AND stream = ? ORDER BY byte_offset DESC LIMIT 1
                """),
            arguments: [commandId, stream.rawValue]
        ) ?? 0
    }

    static func insertChunk(_ commandId: String, _ stream: StdStream, offset: Int, data: Data, version: Int, _ db: Database) throws {
        try db.executeCached(
            sql: "INSERT INTO command_output (command_id, stream, byte_offset, data, version) VALUES (?, ?, ?, ?, ?)",
            arguments: [commandId, stream.rawValue, offset, data, version]
        )
    }
}
