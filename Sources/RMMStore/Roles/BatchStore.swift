import Foundation
import RMMProtocol

/// Reads of a batch (the commands of one run) for the operator's long-polls and streams: its
/// counts and change versions, and its commands and output a page at a time.
public protocol BatchStore: Sendable {
    /// Changes in a batch after `version`, and the version to ask from next time.
    func batchChanges(batchId: String, after version: Int) async throws -> BatchChanges
    /// All commands of a batch.
    func batch(id: String) async throws -> [CommandRecord]
    /// How many of a batch's commands are in each state (one query; it reads every command of the batch).
    func batchStateCounts(batchId: String) async throws -> [CommandState: Int]
    /// How many of a batch's commands are not finished (reads only those: cheap to ask often). A
    /// backend whose "changed after" reads lag behind commits (PostgreSQL's horizon) also counts an
    /// ended command whose end those reads cannot show yet, so zero means they show every end.
    func batchPendingCount(batchId: String) async throws -> Int
    /// The highest change version among a batch's commands (a command's covers its output); nil for an unknown batch.
    func batchTopVersion(batchId: String) async throws -> Int?
    /// At most `limit` of a batch's commands changed after `version`, in change order, starting
    /// past `position` (the last one of the previous page; nil for the first page).
    func batchChangedCommands(batchId: String, after version: Int, from position: BatchPosition?, limit: Int) async throws -> [PositionedCommand]
    /// At most `limit` of a batch's commands in creation order, after row `row` (0 for the first page).
    func batchCommands(batchId: String, afterRow row: Int64, limit: Int) async throws -> [PositionedCommand]
    /// Stored chunks of these commands in `versions`, after `cursor` (nil: from the start), ordered
    /// by command id, stream name and offset, in one read: at most `limit` of them, and none after
    /// the one that brings their bytes to `maxBytes` (so a page holds at most `maxBytes` plus one
    /// chunk, and at least one chunk when any is left). Only chunks that start below `belowOffset`
    /// are read (a reader that shows a stream's first bytes reads no more of it).
    func outputChunks(commandIds: [String], after cursor: OutputCursor?, versions: OutputVersions, limit: Int, maxBytes: Int,
                      belowOffset: Int) async throws -> OutputChunkPage
    /// The whole output of the first of `commandIds` and of as many following ones as fit in
    /// `maxBytes` (at least one), in their order, in one read; a command without output has empty streams.
    func commandOutputs(commandIds: [String], maxBytes: Int) async throws -> [WholeOutput]
}

extension BatchStore {
    /// `outputChunks` at any offset.
    public func outputChunks(commandIds: [String], after cursor: OutputCursor?, versions: OutputVersions, limit: Int, maxBytes: Int) async throws -> OutputChunkPage {
        try await outputChunks(commandIds: commandIds, after: cursor, versions: versions, limit: limit, maxBytes: maxBytes, belowOffset: .max)
    }

    /// At most `limit` chunks, whatever their size (see the requirement).
    public func outputChunks(commandIds: [String], after cursor: OutputCursor?, versions: OutputVersions, limit: Int) async throws -> [OutputChunk] {
        try await outputChunks(commandIds: commandIds, after: cursor, versions: versions, limit: limit, maxBytes: .max).chunks
    }
}
