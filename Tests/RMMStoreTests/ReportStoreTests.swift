import Foundation
import RMMProtocol
import Testing
import RMMStore

/// `recordReports`: an agent's reports applied in order in one write, each like its single-call twin.
@Suite struct ReportStoreTests {
    @Test(arguments: StoreBackend.allCases) func aRunOfReportsIsOneTransactionWithOneEffectEach(backend: StoreBackend) async throws {
        let (store, agent) = try await Fixture.storeWithAgent(backend)
        defer { Fixture.close(store) }
        try await store.insertCommands([Fixture.command("c1", agent: agent.id), Fixture.command("c2", agent: agent.id)])
        _ = try await store.transition(commandId: "c1", to: .sent, reason: nil, now: Fixture.at(1))
        _ = try await store.transition(commandId: "c2", to: .sent, reason: nil, now: Fixture.at(1))
        let before = (store as? SQLiteStore)?.commitCounts.transactions
        let effects = try await store.recordReports([
            .acknowledged(commandId: "c1", reason: nil),
            .started(commandId: "c1", reason: "pid 9"),
            .output(commandId: "c1", stream: .stdout, offset: 0, data: Data("he".utf8), cap: 100),
            .finished(commandId: "c1", outcome: CommandOutcome(state: .succeeded, exitCode: 0, stdout: Data("hello".utf8))),
            .acknowledged(commandId: "c2", reason: nil),
            .acknowledged(commandId: "c2", reason: nil),  // a duplicate: changes nothing
            .output(commandId: "c1", stream: .stdout, offset: 5, data: Data("late".utf8), cap: 100),  // after the end
        ], agentId: agent.id, now: Fixture.at(2))
        if let sqlite = store as? SQLiteStore { #expect(sqlite.commitCounts.transactions == (before ?? 0) + 1) }
        #expect(effects.count == 7)
        let kinds = effects.map { effect -> String in
            switch effect {
            case .changed(let record): return "changed:\(record.state.rawValue)"
            case .unchanged(let record): return "unchanged:\(record.state.rawValue)"
            case .unknown: return "unknown"
            case .notOwned: return "notOwned"
            }
        }
        #expect(kinds == ["changed:delivered", "changed:running", "changed:running", "changed:succeeded",
                          "changed:delivered", "unchanged:delivered", "unchanged:succeeded"])
        #expect(try await store.events(commandId: "c1").map(\.state) == [.queued, .sent, .delivered, .running, .succeeded])
        #expect(try await store.events(commandId: "c1")[3].reason == "pid 9")
        #expect(try await store.output(commandId: "c1", stream: .stdout) == Data("hello".utf8))
        #expect(try await store.command(id: "c2")?.state == .delivered)
    }

    @Test("an ack, a start and a result together: every step's event, the row written once under one new version", arguments: StoreBackend.allCases)
    func stepsOfOneCommandWriteItsRowOnce(backend: StoreBackend) async throws {
        let (store, agent) = try await Fixture.storeWithAgent(backend)
        defer { Fixture.close(store) }
        try await store.insertCommands([Fixture.command("c1", agent: agent.id, batch: "b1"), Fixture.command("c2", agent: agent.id, batch: "b1")])
        let sent = try #require(try await store.transition(commandId: "c1", to: .sent, reason: nil, now: Fixture.at(1)))
        _ = try await store.transition(commandId: "c2", to: .sent, reason: nil, now: Fixture.at(1))
        let effects = try await store.recordReports([
            .acknowledged(commandId: "c1", reason: nil),
            .acknowledged(commandId: "c2", reason: nil),
            .started(commandId: "c1", reason: "pid 9"),
            .finished(commandId: "c1", outcome: CommandOutcome(state: .succeeded, exitCode: 0, stdout: Data("ok".utf8))),
        ], agentId: agent.id, now: Fixture.at(2))
        let stored = try #require(try await store.command(id: "c1"))
        let c2 = try #require(try await store.command(id: "c2"))
        // The row is the last step's record, and every effect on it names the version it now has.
        #expect(effects[3] == .changed(stored))
        for index in [0, 2, 3] {
            guard case .changed(let record) = effects[index] else { Issue.record("step \(index) changed nothing"); continue }
            #expect(record.version == stored.version)
        }
        #expect(effects[1] == .changed(c2))
        #expect(stored.state == .succeeded && stored.exitCode == 0 && stored.updatedAt == Fixture.at(2))
        #expect(stored.version > sent.version && c2.version > sent.version)
        // SQLite gives each row written its own version; PostgreSQL the writing transaction's.
        #expect(backend == .sqlite ? c2.version != stored.version : c2.version == stored.version)
        #expect(try await store.events(commandId: "c1").map(\.state) == [.queued, .sent, .delivered, .running, .succeeded])
        // The batch feed after the version the command had before lists it once, finished, with its output.
        try await Fixture.settle(store)
        let changes = try await store.batchChanges(batchId: "b1", after: sent.version)
        #expect(changes.commands.map(\.id).sorted() == ["c1", "c2"])
        #expect(changes.commands.first { $0.id == "c1" } == stored)
        #expect(changes.output.map(\.data) == [Data("ok".utf8)])
        #expect(changes.version >= stored.version)
    }

    @Test(arguments: StoreBackend.allCases) func unknownAndForeignCommandsChangeNothingAndDoNotFailTheOthers(backend: StoreBackend) async throws {
        let (store, agent) = try await Fixture.storeWithAgent(backend)
        defer { Fixture.close(store) }
        let other = try await Fixture.agent(store, key: "key-2", name: "web-2")
        try await store.insertCommands([Fixture.command("mine", agent: agent.id), Fixture.command("theirs", agent: other.id)])
        _ = try await store.transition(commandId: "mine", to: .sent, reason: nil, now: Fixture.at(1))
        _ = try await store.transition(commandId: "theirs", to: .sent, reason: nil, now: Fixture.at(1))
        let effects = try await store.recordReports([
            .finished(commandId: "theirs", outcome: CommandOutcome(state: .succeeded)),
            .output(commandId: "theirs", stream: .stdout, offset: 0, data: Data("forged".utf8), cap: 100),
            .acknowledged(commandId: "c_gone", reason: nil),
            .finished(commandId: "mine", outcome: CommandOutcome(state: .failed, reason: "exit 1", exitCode: 1)),
        ], agentId: agent.id, now: Fixture.at(2))
        #expect(effects.first == .notOwned)
        #expect(effects[1] == .notOwned)
        #expect(effects[2] == .unknown)
        #expect(try await store.command(id: "mine")?.state == .failed)
        #expect(try await store.command(id: "theirs")?.state == .sent)
        #expect(try await store.output(commandId: "theirs", stream: .stdout).isEmpty)
        #expect(try await store.events(commandId: "theirs").map(\.state) == [.queued, .sent])
    }

    @Test(arguments: StoreBackend.allCases) func aLoneAckSaysWhatItDid(backend: StoreBackend) async throws {
        let (store, agent) = try await Fixture.storeWithAgent(backend)
        defer { Fixture.close(store) }
        let other = try await Fixture.agent(store, key: "key-2", name: "web-2")
        try await store.insertCommands([Fixture.command("mine", agent: agent.id), Fixture.command("theirs", agent: other.id)])
        for id in ["mine", "theirs"] { _ = try await store.transition(commandId: id, to: .sent, reason: nil, now: Fixture.at(1)) }
        func ack(_ id: String) async throws -> ReportEffect {
            try #require(try await store.recordReports([.acknowledged(commandId: id, reason: "got it")], agentId: agent.id, now: Fixture.at(2)).first)
        }
        let stored = try #require(try await store.command(id: "mine"))
        #expect(try await ack("mine") == .changed(stored.with(state: .delivered, reason: "got it", at: Fixture.at(2), version: try #require(try await store.command(id: "mine")).version)))
        #expect(try await ack("mine") == .unchanged(try #require(try await store.command(id: "mine"))))
        #expect(try await ack("theirs") == .notOwned)
        #expect(try await ack("c_gone") == .unknown)
        #expect(try await store.events(commandId: "mine").map(\.state) == [.queued, .sent, .delivered])
        #expect(try await store.command(id: "theirs")?.state == .sent)
    }

    @Test(arguments: StoreBackend.allCases) func noReportsIsNoWrite(backend: StoreBackend) async throws {
        let (store, agent) = try await Fixture.storeWithAgent(backend)
        defer { Fixture.close(store) }
        let before = (store as? SQLiteStore)?.commitCounts.transactions
        #expect(try await store.recordReports([], agentId: agent.id, now: Fixture.t0).isEmpty)
        if let sqlite = store as? SQLiteStore { #expect(sqlite.commitCounts.transactions == before) }
    }
}

extension CommandRecord {
    /// This record after a move to `state`, as the store writes it.
    fileprivate func with(state: CommandState, reason: String?, at: Date, version: Int) -> CommandRecord {
        var record = self
        record.state = state
        record.reason = reason
        record.updatedAt = at
        record.version = version
        return record
    }
}
