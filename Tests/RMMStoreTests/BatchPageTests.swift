import Foundation
import RMMProtocol
import RMMStore
import Testing

/// The bounded pages the API streams a batch from: every command and chunk once, in order.
@Suite struct BatchPageTests {
    private func batch(_ count: Int, _ backend: StoreBackend) async throws -> (any Store, [String]) {
        let (store, agent) = try await Fixture.storeWithAgent(backend)
        let ids = (0..<count).map { String(format: "c%02d", $0) }
        try await store.insertCommands(ids.map { Fixture.command($0, agent: agent.id) } + [Fixture.command("x1", agent: agent.id, batch: "other")])
        return (store, ids)
    }

    @Test(arguments: StoreBackend.allCases) func creationOrderPagesListEveryCommandOnce(backend: StoreBackend) async throws {
        let (store, ids) = try await batch(7, backend)
        defer { Fixture.close(store) }
        var seen: [String] = []
        var row: Int64 = 0
        while true {
            let page = try await store.batchCommands(batchId: "b1", afterRow: row, limit: 3)
            seen += page.map(\.record.id)
            guard page.count == 3, let last = page.last else { break }
            row = last.position.row
        }
        #expect(seen == ids)
        #expect(try await store.batchCommands(batchId: "nope", afterRow: 0, limit: 3).isEmpty)
    }

    @Test(arguments: StoreBackend.allCases) func changePagesListEveryChangedCommandOnceInVersionOrder(backend: StoreBackend) async throws {
        let (store, ids) = try await batch(7, backend)
        defer { Fixture.close(store) }
        func changed(after version: Int) async throws -> [PositionedCommand] {
            var seen: [PositionedCommand] = []
            var position: BatchPosition?
            while true {
                let page = try await store.batchChangedCommands(batchId: "b1", after: version, from: position, limit: 2)
                seen += page
                guard page.count == 2, let last = page.last else { return seen }
                position = last.position
            }
        }
        // Inserted in one transaction, the commands share a version: the row breaks the tie.
        try await Fixture.settle(store)
        let all = try await changed(after: 0)
        #expect(all.map(\.record.id) == ids)
        let top = try #require(try await store.batchTopVersion(batchId: "b1"))
        #expect(top == all.map(\.record.version).max())
        #expect(try await store.batchTopVersion(batchId: "nope") == nil)
        #expect(try await changed(after: top).isEmpty)

        _ = try await store.transition(commandId: "c05", to: .sent, reason: nil, now: Fixture.at(1))
        _ = try await store.transition(commandId: "c02", to: .sent, reason: nil, now: Fixture.at(2))
        try await Fixture.settle(store)
        let later = try await changed(after: top)
        #expect(later.map(\.record.id) == ["c05", "c02"])
        #expect(later.allSatisfy { $0.record.state == .sent })
    }

    @Test(arguments: StoreBackend.allCases) func outputPagesFollowCommandsStreamsAndOffsetsWithinTheVersionsAsked(backend: StoreBackend) async throws {
        let (store, _) = try await batch(2, backend)
        defer { Fixture.close(store) }
        for id in ["c00", "c01"] {
            _ = try await store.transition(commandId: id, to: .sent, reason: nil, now: Fixture.at(1))
            _ = try await store.transition(commandId: id, to: .running, reason: nil, now: Fixture.at(2))
        }
        for (index, piece) in ["ab", "cd", "ef"].enumerated() {
            #expect(try await store.appendOutput(commandId: "c00", stream: .stdout, offset: index * 2, data: Data(piece.utf8), cap: 100))
        }
        #expect(try await store.appendOutput(commandId: "c00", stream: .stderr, offset: 0, data: Data("E".utf8), cap: 100))
        #expect(try await store.appendOutput(commandId: "c01", stream: .stdout, offset: 0, data: Data("Z".utf8), cap: 100))
        let ids = ["c01", "c00", "nope"]
        let all = try await store.outputChunks(commandIds: ids, after: nil, versions: .all, limit: 10)
        // Command id, then stream name (stderr before stdout), then offset.
        #expect(all.map { "\($0.commandId)/\($0.stream.rawValue)/\($0.offset)" } == ["c00/stderr/0", "c00/stdout/0", "c00/stdout/2", "c00/stdout/4", "c01/stdout/0"])
        // Paged two at a time from a cursor: the same chunks, each once.
        var paged: [OutputChunk] = []
        var cursor: OutputCursor?
        while true {
            let page = try await store.outputChunks(commandIds: ids, after: cursor, versions: .all, limit: 2)
            paged += page
            guard page.count == 2, let last = page.last else { break }
            cursor = OutputCursor(after: last)
        }
        #expect(paged == all)
        // Only what was stored after the first stdout chunk, up to the second.
        let first = all[1].version, second = all[2].version
        let window = try await store.outputChunks(commandIds: ids, after: nil, versions: OutputVersions(after: first, through: second), limit: 10)
        #expect(window.map(\.offset) == [2] && window.map(\.data) == [Data("cd".utf8)])
        #expect(try await store.outputChunks(commandIds: [], after: nil, versions: .all, limit: 10).isEmpty)
    }
}

extension BatchPageTests {
    /// Commands c00 (stdout "ab", "cd", "ef"; stderr "E") and c01 (stdout "Z"), running.
    private func batchWithOutput(_ backend: StoreBackend) async throws -> any Store {
        let (store, _) = try await batch(2, backend)
        for id in ["c00", "c01"] {
            _ = try await store.transition(commandId: id, to: .sent, reason: nil, now: Fixture.at(1))
            _ = try await store.transition(commandId: id, to: .running, reason: nil, now: Fixture.at(2))
        }
        for (index, piece) in ["ab", "cd", "ef"].enumerated() {
            #expect(try await store.appendOutput(commandId: "c00", stream: .stdout, offset: index * 2, data: Data(piece.utf8), cap: 100))
        }
        #expect(try await store.appendOutput(commandId: "c00", stream: .stderr, offset: 0, data: Data("E".utf8), cap: 100))
        #expect(try await store.appendOutput(commandId: "c01", stream: .stdout, offset: 0, data: Data("Z".utf8), cap: 100))
        return store
    }

    @Test(arguments: StoreBackend.allCases) func outputPagesEndAtTheChunkThatReachesTheirBytesAndSayWhetherMoreFollow(backend: StoreBackend) async throws {
        let store = try await batchWithOutput(backend)
        defer { Fixture.close(store) }
        let ids = ["c00", "c01"]
        func names(_ page: OutputChunkPage) -> [String] { page.chunks.map { "\($0.commandId)/\($0.stream.rawValue)/\($0.offset)" } }
        let first = try await store.outputChunks(commandIds: ids, after: nil, versions: .all, limit: 100, maxBytes: 3)
        #expect(names(first) == ["c00/stderr/0", "c00/stdout/0"] && first.more)
        let second = try await store.outputChunks(commandIds: ids, after: OutputCursor(after: try #require(first.chunks.last)), versions: .all, limit: 100, maxBytes: 3)
        #expect(names(second) == ["c00/stdout/2", "c00/stdout/4"] && second.more)
        let third = try await store.outputChunks(commandIds: ids, after: OutputCursor(after: try #require(second.chunks.last)), versions: .all, limit: 100, maxBytes: 3)
        #expect(names(third) == ["c01/stdout/0"] && !third.more)
        // A chunk bigger than the budget still comes, alone; the chunk limit holds beside the bytes.
        let big = try await store.outputChunks(commandIds: ["c00"], after: OutputCursor(commandId: "c00", stream: "stderr", offset: 0), versions: .all, limit: 100, maxBytes: 1)
        #expect(names(big) == ["c00/stdout/0"] && big.more)
        let counted = try await store.outputChunks(commandIds: ids, after: nil, versions: .all, limit: 5, maxBytes: .max)
        #expect(counted.chunks.count == 5 && !counted.more)
        let cut = try await store.outputChunks(commandIds: ids, after: nil, versions: .all, limit: 4, maxBytes: .max)
        #expect(cut.chunks.count == 4 && cut.more)
        #expect(try await store.outputChunks(commandIds: ids, after: nil, versions: .all, limit: 0, maxBytes: .max) == OutputChunkPage(chunks: [], more: false))
        let none = try await store.outputChunks(commandIds: ids, after: nil, versions: .all, limit: 100, maxBytes: 0)
        #expect(names(none) == ["c00/stderr/0"] && none.more, "a page takes one chunk whatever its bytes")
        // A reader that shows each stream's first bytes reads only the chunks that start below them.
        let head = try await store.outputChunks(commandIds: ids, after: nil, versions: .all, limit: 100, maxBytes: .max, belowOffset: 2)
        #expect(names(head) == ["c00/stderr/0", "c00/stdout/0", "c01/stdout/0"] && !head.more)
        #expect(try await store.outputChunks(commandIds: ids, after: nil, versions: .all, limit: 100, maxBytes: .max, belowOffset: 0).chunks.isEmpty)
    }

    @Test(arguments: StoreBackend.allCases) func wholeOutputsComeInTheOrderAskedForAsManyCommandsAsTheBytesAllow(backend: StoreBackend) async throws {
        let store = try await batchWithOutput(backend)
        defer { Fixture.close(store) }
        let all = try await store.commandOutputs(commandIds: ["c01", "nope", "c00"], maxBytes: 100)
        #expect(all == [
            WholeOutput(commandId: "c01", stdout: Data("Z".utf8), stderr: Data()),
            WholeOutput(commandId: "nope", stdout: Data(), stderr: Data()),
            WholeOutput(commandId: "c00", stdout: Data("abcdef".utf8), stderr: Data("E".utf8)),
        ])
        // The budget is reached by c01's one byte: the next commands wait for the next read.
        #expect(try await store.commandOutputs(commandIds: ["c01", "c00"], maxBytes: 1).map(\.commandId) == ["c01"])
        // At least one command, whatever its size.
        #expect(try await store.commandOutputs(commandIds: ["c00", "c01"], maxBytes: 0).map(\.commandId) == ["c00"])
        #expect(try await store.commandOutputs(commandIds: [], maxBytes: 100).isEmpty)
    }
}
