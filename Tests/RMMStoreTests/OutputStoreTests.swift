import Foundation
import RMMProtocol
import Testing
import RMMStore

@Suite struct OutputStoreTests {
    @Test(arguments: StoreBackend.allCases) func appendOutputAcceptsOnlyTheNextBytesWithinCap(backend: StoreBackend) async throws {
        let (store, agent) = try await Fixture.storeWithAgent(backend)
        defer { Fixture.close(store) }
        try await store.insertCommands([Fixture.command("c1", agent: agent.id)])
        _ = try await store.transition(commandId: "c1", to: .sent, reason: nil, now: Fixture.at(1))
        _ = try await store.transition(commandId: "c1", to: .running, reason: nil, now: Fixture.at(2))

        #expect(try await store.appendOutput(commandId: "c1", stream: .stdout, offset: 0, data: Data("abc".utf8), cap: 8))
        #expect(try await store.appendOutput(commandId: "c1", stream: .stdout, offset: 0, data: Data("abc".utf8), cap: 8) == false)
        #expect(try await store.appendOutput(commandId: "c1", stream: .stdout, offset: 5, data: Data("x".utf8), cap: 8) == false)
        #expect(try await store.appendOutput(commandId: "c1", stream: .stdout, offset: 3, data: Data("defghi".utf8), cap: 8) == false)
        #expect(try await store.appendOutput(commandId: "c1", stream: .stdout, offset: 3, data: Data("defgh".utf8), cap: 8))
        #expect(try await store.appendOutput(commandId: "c1", stream: .stderr, offset: 0, data: Data("e".utf8), cap: 8))
        #expect(try await store.appendOutput(commandId: "nope", stream: .stdout, offset: 0, data: Data("e".utf8), cap: 8) == false)
        #expect(try await store.output(commandId: "c1", stream: .stdout) == Data("abcdefgh".utf8))
        #expect(try await store.output(commandId: "c1", stream: .stderr) == Data("e".utf8))

        _ = try await store.finish(commandId: "c1", outcome: CommandOutcome(state: .succeeded, exitCode: 0, stdout: Data("abcdefgh".utf8)), now: Fixture.at(3))
        #expect(try await store.appendOutput(commandId: "c1", stream: .stderr, offset: 1, data: Data("f".utf8), cap: 8) == false)
        #expect(try await store.output(commandId: "c1", stream: .stderr) == Data("e".utf8))
    }

    @Test(arguments: StoreBackend.allCases) func batchChangesReturnsExactlyWhatChangedAfterAVersion(backend: StoreBackend) async throws {
        let (store, agent) = try await Fixture.storeWithAgent(backend)
        defer { Fixture.close(store) }
        try await store.insertCommands([
            Fixture.command("c1", agent: agent.id), Fixture.command("c2", agent: agent.id),
            Fixture.command("x1", agent: agent.id, batch: "other"),
        ])
        try await Fixture.settle(store)
        let initial = try await store.batchChanges(batchId: "b1", after: 0)
        #expect(initial.commands.map(\.id) == ["c1", "c2"])
        #expect(initial.output.isEmpty)
        #expect(initial.version == initial.commands.map(\.version).max())


        let quiet = try await store.batchChanges(batchId: "b1", after: initial.version)
        #expect(quiet == BatchChanges(version: initial.version, commands: [], output: []))

        _ = try await store.transition(commandId: "c2", to: .sent, reason: nil, now: Fixture.at(1))
        _ = try await store.transition(commandId: "c2", to: .running, reason: nil, now: Fixture.at(2))
        _ = try await store.transition(commandId: "x1", to: .sent, reason: nil, now: Fixture.at(2))
        #expect(try await store.appendOutput(commandId: "c2", stream: .stdout, offset: 0, data: Data("one".utf8), cap: 100))
        #expect(try await store.appendOutput(commandId: "c2", stream: .stdout, offset: 3, data: Data("two".utf8), cap: 100))

        try await Fixture.settle(store)
        let step = try await store.batchChanges(batchId: "b1", after: initial.version)
        #expect(step.commands.map(\.id) == ["c2"])
        #expect(step.commands.first?.state == .running)
        #expect(step.output.map(\.data) == [Data("one".utf8), Data("two".utf8)])
        #expect(step.output.map(\.offset) == [0, 3])
        #expect(step.output.allSatisfy { $0.commandId == "c2" && $0.stream == .stdout && $0.version > initial.version })
        #expect(step.version == step.output.last?.version)
        #expect(step.version == step.commands.first?.version)

        let done = try #require(try await store.finish(
            commandId: "c2", outcome: CommandOutcome(state: .succeeded, exitCode: 0, stdout: Data("onetwothree".utf8)), now: Fixture.at(3)
        ))
        try await Fixture.settle(store)
        let last = try await store.batchChanges(batchId: "b1", after: step.version)
        #expect(last.commands == [done])
        #expect(last.output.map(\.data) == [Data("three".utf8)])
        #expect(last.output.first?.offset == 6)
        #expect(last.version == done.version)
        try await Fixture.settle(store)
        #expect(try await store.batchChanges(batchId: "b1", after: last.version).commands.isEmpty)
    }
}
