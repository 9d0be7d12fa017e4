import Foundation
import RMMProtocol
import RMMStore
import Testing

/// The bounded pages the API streams a batch from: every command and chunk once, in order.
@Suite struct BatchPageTests {
    private func batch(_ count: Int) async throws -> (SQLiteStore, [String]) {
        let (store, agent) = try await Fixture.storeWithAgent()
        let ids = (0..<count).map { String(format: "c%02d", $0) }
        try await store.insertCommands(ids.map { Fixture.command($0, agent: agent.id) } + [Fixture.command("x1", agent: agent.id, batch: "other")])
        return (store, ids)
    }

    @Test func creationOrderPagesListEveryCommandOnce() async throws {
        let (store, ids) = try await batch(7)
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

    @Test func changePagesListEveryChangedCommandOnceInVersionOrder() async throws {
        let (store, ids) = try await batch(7)
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
        let all = try await changed(after: 0)
        #expect(all.map(\.record.id) == ids)
        let top = try #require(try await store.batchTopVersion(batchId: "b1"))
        #expect(top == all.map(\.record.version).max())
        #expect(try await store.batchTopVersion(batchId: "nope") == nil)
        #expect(try await changed(after: top).isEmpty)

        _ = try await store.transition(commandId: "c05", to: .sent, reason: nil, now: Fixture.at(1))
        _ = try await store.transition(commandId: "c02", to: .sent, reason: nil, now: Fixture.at(2))
        let later = try await changed(after: top)
        #expect(later.map(\.record.id) == ["c05", "c02"])
        #expect(later.allSatisfy { $0.record.state == .sent })
    }

    @Test func outputPagesFollowOffsetsWithinTheVersionsAsked() async throws {
        let (store, _) = try await batch(1)
        _ = try await store.transition(commandId: "c00", to: .sent, reason: nil, now: Fixture.at(1))
        _ = try await store.transition(commandId: "c00", to: .running, reason: nil, now: Fixture.at(2))
        for (index, piece) in ["ab", "cd", "ef"].enumerated() {
            #expect(try await store.appendOutput(commandId: "c00", stream: .stdout, offset: index * 2, data: Data(piece.utf8), cap: 100))
        }
        #expect(try await store.appendOutput(commandId: "c00", stream: .stderr, offset: 0, data: Data("E".utf8), cap: 100))
        let all = try await store.outputChunks(commandId: "c00", stream: .stdout, fromOffset: 0, versions: .all, limit: 10)
        #expect(all.map { String(decoding: $0.data, as: UTF8.self) } == ["ab", "cd", "ef"])
        #expect(all.map(\.offset) == [0, 2, 4])
        let paged = try await store.outputChunks(commandId: "c00", stream: .stdout, fromOffset: 2, versions: .all, limit: 1)
        #expect(paged.map(\.offset) == [2])
        // Only the chunks stored after the first one's version, up to the second's.
        let window = try await store.outputChunks(commandId: "c00", stream: .stdout, fromOffset: 0,
                                                  versions: OutputVersions(after: all[0].version, through: all[1].version), limit: 10)
        #expect(window.map(\.offset) == [2])
        let errors = try await store.outputChunks(commandId: "c00", stream: .stderr, fromOffset: 0, versions: .all, limit: 10)
        #expect(errors.map(\.data) == [Data("E".utf8)])
    }
}
