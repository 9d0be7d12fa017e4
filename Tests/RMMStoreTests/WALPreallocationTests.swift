import Foundation
import GRDB
import Testing
@testable import RMMStore

@Suite struct WALPreallocationTests {
    private static func size(_ path: String) -> Int? {
        (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue
    }

    private static func leftovers(besides path: String) throws -> [String] {
        let directory = (path as NSString).deletingLastPathComponent
        let base = (path as NSString).lastPathComponent
        return try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix(base + "-wal" + WALPreallocation.scratchMarker) }
    }

    @Test func aNewStoreCommitsIntoAZeroFilledLogWithoutGrowingIt() async throws {
        let path = Fixture.temporaryPath()
        defer { Fixture.removeDatabase(at: path) }
        let expected = WALPreallocation.bytes(pages: SQLiteStore.checkpointPages)
        do {
            let store = try SQLiteStore(path: path)
            #expect(store.walPreallocation == .created(bytes: expected))
            #expect(Self.size(path + "-wal") == expected)
            let agent = try await Fixture.enrolledAgent(store)
            for index in 0..<20 { try await store.insertCommands([Fixture.command("c\(index)", agent: agent.id)]) }
            // The commits landed inside the zeros: the file did not grow.
            #expect(Self.size(path + "-wal") == expected)
            #expect(try await store.command(id: "c19") != nil)
        }
        #expect(try Self.leftovers(besides: path).isEmpty)
        // Closed and opened again (SQLite checkpointed and removed the log on close): all there.
        let reopened = try SQLiteStore(path: path)
        #expect(try await reopened.command(id: "c0") != nil)
        #expect(try await reopened.command(id: "c19") != nil)
    }

    @Test func aLogLeftByACrashIsNeverTouchedAndItsCommitsSurvive() async throws {
        let path = Fixture.temporaryPath()
        let copy = Fixture.temporaryPath()
        defer {
            Fixture.removeDatabase(at: path)
            Fixture.removeDatabase(at: copy)
        }
        let store = try SQLiteStore(path: path)
        let agent = try await Fixture.enrolledAgent(store)
        try await store.insertCommands([Fixture.command("c1", agent: agent.id)])
        // What a crash leaves: the database and its log with committed, not yet checkpointed
        // frames (copied while the store is open and idle; SQLite rebuilds the index from the log).
        try FileManager.default.copyItem(atPath: path, toPath: copy)
        try FileManager.default.copyItem(atPath: path + "-wal", toPath: copy + "-wal")
        let before = try Data(contentsOf: URL(fileURLWithPath: copy + "-wal"))
        #expect(WALPreallocation.prepare(databasePath: copy, bytes: 1 << 20) == .existing)
        #expect(try Data(contentsOf: URL(fileURLWithPath: copy + "-wal")) == before)
        let recovered = try SQLiteStore(path: copy)
        #expect(recovered.walPreallocation == .existing)
        #expect(try await recovered.command(id: "c1")?.agentId == agent.id)
    }

    @Test func anyExistingLogIsLeftAlone() throws {
        let path = Fixture.temporaryPath()
        defer { Fixture.removeDatabase(at: path) }
        let contents = Data("not mine to overwrite".utf8)
        try contents.write(to: URL(fileURLWithPath: path + "-wal"))
        #expect(WALPreallocation.prepare(databasePath: path, bytes: 1 << 20) == .existing)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path + "-wal")) == contents)
        #expect(try Self.leftovers(besides: path).isEmpty)
    }

    @Test func aScratchFileLeftByAKilledStartIsRemoved() throws {
        let path = Fixture.temporaryPath()
        defer { Fixture.removeDatabase(at: path) }
        let leftover = path + "-wal" + WALPreallocation.scratchMarker + "12345-678"
        try Data(count: 4096).write(to: URL(fileURLWithPath: leftover))
        #expect(WALPreallocation.prepare(databasePath: path, bytes: 1 << 20) == .created(bytes: 1 << 20))
        #expect(try Self.leftovers(besides: path).isEmpty)
    }

    @Test func aFailureSaysWhyAndLeavesNothingBehind() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("no-such-\(UUID().uuidString)").path
        let outcome = WALPreallocation.prepare(databasePath: directory + "/db.sqlite", bytes: 1 << 20)
        guard case .failed(let why) = outcome else {
            Issue.record("expected a failure, got \(outcome)")
            return
        }
        #expect(why.contains("No such file or directory"))
        #expect(!FileManager.default.fileExists(atPath: directory))
    }
}
