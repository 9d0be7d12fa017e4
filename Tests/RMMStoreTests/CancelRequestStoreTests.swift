import Foundation
import RMMProtocol
import Testing

@testable import RMMStore

/// Cancels asked of commands an agent may hold are kept until the command ends, so the node with
/// the agent's connection finds one whose signal was lost.
@Suite struct CancelRequestStoreTests {
    @Test(arguments: StoreBackend.allCases) func requestsAreKeptUntilTheCommandEnds(backend: StoreBackend) async throws {
        let (store, agent) = try await RegistryFixture.storeWithAgent(backend)
        defer { RegistryFixture.close(store) }
        try await store.insertCommands(["c_sent", "c_running", "c_queued", "c_done", "c_quiet"].map { Fixture.command($0, agent: agent.id) })
        for id in ["c_sent", "c_running", "c_done", "c_quiet"] { _ = try await store.transition(commandId: id, to: .sent, reason: nil, now: Fixture.at(1)) }
        _ = try await store.transition(commandId: "c_running", to: .running, reason: nil, now: Fixture.at(2))
        _ = try await store.transition(commandId: "c_done", to: .succeeded, reason: nil, now: Fixture.at(2))
        #expect(try await store.requestedCancels(agentIds: [agent.id]).isEmpty)

        try await store.requestCancel(commandId: "c_sent", reason: "first", now: Fixture.at(3))
        try await store.requestCancel(commandId: "c_sent", reason: "second", now: Fixture.at(4))
        try await store.requestCancel(commandId: "c_running", reason: "stop it", now: Fixture.at(3))
        // A queued command's request is read once it is sent (no agent holds it before); an ended one records none.
        try await store.requestCancel(commandId: "c_queued", reason: "queued", now: Fixture.at(3))
        try await store.requestCancel(commandId: "c_done", reason: "too late", now: Fixture.at(3))
        await #expect(throws: StoreError.notFound("command 'c_missing'")) {
            try await store.requestCancel(commandId: "c_missing", reason: "x", now: Fixture.at(3))
        }
        // The first request's reason is kept.
        #expect(try await store.requestedCancels(agentIds: [agent.id, "ag_other"]) == [agent.id: ["c_sent": "first", "c_running": "stop it"]])
        #expect(try await store.requestedCancels(agentIds: []).isEmpty)

        // The agent answered: the command ended, and its request is read no more.
        _ = try await store.transition(commandId: "c_running", to: .cancelled, reason: "cancelled by agent", now: Fixture.at(5))
        #expect(try await store.requestedCancels(agentIds: [agent.id]) == [agent.id: ["c_sent": "first"]])
        #expect(try await store.command(id: "c_running")?.state == .cancelled)
        _ = try await store.transition(commandId: "c_queued", to: .sent, reason: nil, now: Fixture.at(6))
        #expect(try await store.requestedCancels(agentIds: [agent.id]) == [agent.id: ["c_sent": "first", "c_queued": "queued"]])
    }

    @Test(arguments: StoreBackend.allCases) func concurrentRequestsKeepOneReasonAndEndingWins(backend: StoreBackend) async throws {
        let (store, agent) = try await RegistryFixture.storeWithAgent(backend)
        defer { RegistryFixture.close(store) }
        try await store.insertCommands([Fixture.command("c1", agent: agent.id)])
        _ = try await store.transition(commandId: "c1", to: .sent, reason: nil, now: Fixture.at(1))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<10 {
                group.addTask { try await store.requestCancel(commandId: "c1", reason: "ask \(i)", now: Fixture.at(Double(2 + i))) }
            }
            group.addTask { _ = try await store.transition(commandId: "c1", to: .succeeded, reason: nil, now: Fixture.at(3)) }
            try await group.waitForAll()
        }
        // Whichever order they committed in, the command ended and no request is read for it.
        #expect(try await store.command(id: "c1")?.state == .succeeded)
        #expect(try await store.requestedCancels(agentIds: [agent.id]).isEmpty)
    }
}
