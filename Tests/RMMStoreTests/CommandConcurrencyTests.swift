import Foundation
import Logging
import PostgresNIO
import RMMProtocol
import Testing

@testable import RMMStore

/// The command roles' check-then-write methods called at once by several nodes: on PostgreSQL
/// each node is a store of its own on one database; on SQLite both are one store.
@Suite struct CommandConcurrencyTests {
    /// `store` and a second node on the same data.
    private func secondNode(_ store: any Store) async throws -> any Store {
        guard let postgres = store as? PostgresStore else { return store }
        return try await PostgresStore.open(postgres.location, password: nil, logger: Logger(label: "test.node-b"))
    }

    /// Two nodes on one store with an agent, and commands `sent` to it.
    private func twoNodes(_ backend: StoreBackend, sent ids: [String]) async throws -> ([any Store], AgentRecord) {
        let (store, agent) = try await Fixture.storeWithAgent(backend)
        let nodes = [store, try await secondNode(store)]
        try await store.insertCommands(ids.map { Fixture.command($0, agent: agent.id) })
        for id in ids { _ = try await store.transition(commandId: id, to: .sent, reason: nil, now: Fixture.at(1)) }
        return (nodes, agent)
    }

    @Test(arguments: StoreBackend.allCases)
    func concurrentInsertsForOneAgentKeepItsPendingLimit(backend: StoreBackend) async throws {
        let (nodes, agent) = try await twoNodes(backend, sent: [])
        defer { nodes.forEach(Fixture.close) }
        let accepted = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<12 {
                group.addTask {
                    let commands = [Fixture.command("c\(index)a", agent: agent.id), Fixture.command("c\(index)b", agent: agent.id)]
                    do {
                        try await nodes[index % 2].insertCommands(commands, maxPendingPerAgent: 7)
                        return 2
                    } catch StoreError.tooManyPending {
                        return 0
                    }
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(accepted == 6)
        #expect(try await nodes[0].pendingCommandCounts(agentIds: [agent.id]) == [agent.id: 6])
    }

    @Test(arguments: StoreBackend.allCases)
    func concurrentMovesOfOneCommandApplyOnce(backend: StoreBackend) async throws {
        let (nodes, _) = try await twoNodes(backend, sent: ["c1"])
        defer { nodes.forEach(Fixture.close) }
        let moved = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<10 {
                group.addTask {
                    try await nodes[index % 2].transition(commandId: "c1", to: .delivered, reason: "n\(index)", now: Fixture.at(2)) == nil ? 0 : 1
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(moved == 1)
        #expect(try await nodes[0].events(commandId: "c1").map(\.state) == [.queued, .sent, .delivered])
    }

    @Test(arguments: StoreBackend.allCases)
    func concurrentReportsOfOneCommandApplyOnce(backend: StoreBackend) async throws {
        let (nodes, agent) = try await twoNodes(backend, sent: ["c1", "c2"])
        defer { nodes.forEach(Fixture.close) }
        // The same run of reports resent to two nodes (a reconnect), several times, in both
        // orders of commands: the locks are taken in id order, so no two runs deadlock.
        let changed = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<8 {
                group.addTask {
                    var reports: [CommandReport] = ["c1", "c2"].flatMap { id -> [CommandReport] in [
                        .acknowledged(commandId: id, reason: nil),
                        .output(commandId: id, stream: .stdout, offset: 0, data: Data("par".utf8), cap: 100),
                        .finished(commandId: id, outcome: CommandOutcome(state: .succeeded, exitCode: 0, stdout: Data("partial".utf8))),
                    ] }
                    if index % 4 >= 2 { reports.reverse() }
                    let effects = try await nodes[index % 2].recordReports(reports, agentId: agent.id, now: Fixture.at(2))
                    return effects.filter { if case .changed(let record) = $0 { return record.state == .succeeded } else { return false } }.count
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(changed == 2, "each command's result applies once")
        for id in ["c1", "c2"] {
            #expect(try await nodes[0].output(commandId: id, stream: .stdout) == Data("partial".utf8))
            #expect(try await nodes[0].command(id: id)?.state == .succeeded)
            #expect(try await nodes[0].events(commandId: id).map(\.state).filter { $0 == .succeeded }.count == 1)
        }
    }

    @Test(arguments: StoreBackend.allCases)
    func concurrentAppendsAtOneOffsetStoreOnce(backend: StoreBackend) async throws {
        let (nodes, _) = try await twoNodes(backend, sent: ["c1"])
        defer { nodes.forEach(Fixture.close) }
        let stored = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<10 {
                group.addTask {
                    try await nodes[index % 2].appendOutput(commandId: "c1", stream: .stdout, offset: 0, data: Data("n\(index)".utf8), cap: 100) ? 1 : 0
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(stored == 1)
        #expect(try await nodes[0].output(commandId: "c1", stream: .stdout).count == 2)
    }

    /// A transaction that changed a command stays open while a later one commits: a reader must
    /// not move past the open one's version (the later change waits with it), and sees both
    /// once it commits.
    @Test func readersStopBelowAChangeNotYetCommitted() async throws {
        let (store, agent) = try await Fixture.storeWithAgent(.postgres)
        let postgres = try #require(store as? PostgresStore)
        let holder = try #require(try await secondNode(store) as? PostgresStore)
        defer { Fixture.close(store); Fixture.close(holder) }
        try await store.insertCommands([Fixture.command("c1", agent: agent.id), Fixture.command("c2", agent: agent.id)])
        try await Fixture.settle(store)
        let before = try #require(try await store.batchTopVersion(batchId: "b1"))

        let (opened, open) = AsyncStream.makeStream(of: Int.self)
        let (released, release) = AsyncStream.makeStream(of: Void.self)
        let held = Task {
            try await holder.write { connection in
                var version = 0
                for try await value in try await connection.query(
                    "UPDATE commands SET reason = 'held', version = \(unescaped: PostgresSchema.writerVersion) WHERE id = 'c1' RETURNING version",
                    logger: holder.logger
                ).decode(Int.self) { version = value }
                open.yield(version)
                for await _ in released { break }
            }
        }
        var openings = opened.makeAsyncIterator()
        let heldVersion = try #require(await openings.next())
        // A later transaction commits a change with a higher version.
        let later = try #require(try await postgres.transition(commandId: "c2", to: .sent, reason: nil, now: Fixture.at(1)))
        #expect(later.version > heldVersion)

        let top = try #require(try await store.batchTopVersion(batchId: "b1"))
        #expect(top < heldVersion)
        let changes = try await store.batchChanges(batchId: "b1", after: before)
        #expect(changes.commands.isEmpty && changes.version < heldVersion)
        #expect(try await store.batchChangedCommands(batchId: "b1", after: before, from: nil, limit: 10).isEmpty)

        release.yield()
        try await held.value
        try await Fixture.settle(store)
        let after = try await store.batchChanges(batchId: "b1", after: changes.version)
        #expect(after.commands.map(\.id) == ["c1", "c2"])
        #expect(after.commands.first?.reason == "held" && after.version == later.version)
        #expect(try await store.batchTopVersion(batchId: "b1") == later.version)
    }
}
