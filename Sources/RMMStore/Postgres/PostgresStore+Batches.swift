import Foundation
import PostgresNIO
import RMMProtocol

extension PostgresStore {
    public func batchChanges(batchId: String, after version: Int) async throws -> BatchChanges {
        throw StoreError.unavailable("PostgresStore.batchChanges is not implemented yet")
    }

    public func batch(id: String) async throws -> [CommandRecord] {
        throw StoreError.unavailable("PostgresStore.batch is not implemented yet")
    }

    public func batchStateCounts(batchId: String) async throws -> [CommandState: Int] {
        throw StoreError.unavailable("PostgresStore.batchStateCounts is not implemented yet")
    }

    public func batchPendingCount(batchId: String) async throws -> Int {
        throw StoreError.unavailable("PostgresStore.batchPendingCount is not implemented yet")
    }

    public func batchTopVersion(batchId: String) async throws -> Int? {
        throw StoreError.unavailable("PostgresStore.batchTopVersion is not implemented yet")
    }

    public func batchChangedCommands(batchId: String, after version: Int, from position: BatchPosition?, limit: Int) async throws -> [PositionedCommand] {
        throw StoreError.unavailable("PostgresStore.batchChangedCommands is not implemented yet")
    }

    public func batchCommands(batchId: String, afterRow row: Int64, limit: Int) async throws -> [PositionedCommand] {
        throw StoreError.unavailable("PostgresStore.batchCommands is not implemented yet")
    }

    public func outputChunks(commandIds: [String], after cursor: OutputCursor?, versions: OutputVersions, limit: Int, maxBytes: Int) async throws -> OutputChunkPage {
        throw StoreError.unavailable("PostgresStore.outputChunks is not implemented yet")
    }

    public func commandOutputs(commandIds: [String], maxBytes: Int) async throws -> [WholeOutput] {
        throw StoreError.unavailable("PostgresStore.commandOutputs is not implemented yet")
    }
}
