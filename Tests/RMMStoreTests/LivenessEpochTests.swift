import Foundation
import Logging
import RMMProtocol
import RMMTestSupport
import Testing

@testable import RMMStore

/// Liveness flushes carry their connection's epoch, and one of a replaced connection (late, from
/// the node the agent left) changes nothing; the fleet's live counts follow stored liveness.
@Suite struct LivenessEpochTests {
    @Test(arguments: StoreBackend.allCases) func aStaleEpochFlushIsIgnoredAndTheCurrentOneApplies(backend: StoreBackend) async throws {
        let (store, agent) = try await RegistryFixture.storeWithAgent(backend)
        defer { RegistryFixture.close(store) }
        let onA = try await store.recordConnect(agentId: agent.id, facts: Fixture.facts(), now: Fixture.at(1))
        let onB = try await store.recordConnect(agentId: agent.id, facts: Fixture.facts(), now: Fixture.at(2))
        // A's detach and a last-seen flush arrive after B's connect: neither lands, neither throws.
        try await store.saveLiveness(agentId: agent.id, AgentLiveness(disconnectedAt: Fixture.at(3), epoch: onA.epoch))
        #expect(try await store.saveLiveness([(agentId: agent.id, liveness: AgentLiveness(lastSeenAt: Fixture.at(1.5), epoch: onA.epoch))]).isEmpty)
        var stored = try #require(try await store.agent(id: agent.id))
        #expect(stored.connectedSince == Fixture.at(2) && stored.disconnectedAt == nil && stored.lastSeenAt == Fixture.at(2))
        // B's own flushes apply.
        try await store.saveLiveness(agentId: agent.id, AgentLiveness(lastSeenAt: Fixture.at(4), lastDownlinkAt: Fixture.at(4), epoch: onB.epoch))
        stored = try #require(try await store.agent(id: agent.id))
        #expect(stored.lastSeenAt == Fixture.at(4) && stored.lastDownlinkAt == Fixture.at(4))
        // An unknown agent is still unknown, with or without an epoch.
        await #expect(throws: StoreError.notFound("agent 'ag_missing'")) {
            try await store.saveLiveness(agentId: "ag_missing", AgentLiveness(lastSeenAt: Fixture.t0, epoch: 1))
        }
        let unknown = try await store.saveLiveness([
            (agentId: agent.id, liveness: AgentLiveness(disconnectedAt: Fixture.at(5), epoch: onA.epoch)),
            (agentId: "ag_missing", liveness: AgentLiveness(lastSeenAt: Fixture.t0, epoch: 1)),
        ])
        #expect(unknown == ["ag_missing"])
        #expect(try await store.agent(id: agent.id)?.disconnectedAt == nil)
    }

    @Test(arguments: StoreBackend.allCases) func liveCountsFollowStoredLiveness(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        defer { RegistryFixture.close(store) }
        let agents = try await Self.enrolled(store, count: 5)
        // 0: online (seen and proven recently); 1: degraded (seen, never proven); 2: seen too long
        // ago; 3: disconnected; 4: never connected.
        for agent in agents.prefix(4) { _ = try await store.recordConnect(agentId: agent.id, facts: Fixture.facts(), now: Fixture.at(10)) }
        try await store.saveLiveness(agentId: agents[0].id, AgentLiveness(lastSeenAt: Fixture.at(100), lastDownlinkAt: Fixture.at(100)))
        try await store.saveLiveness(agentId: agents[1].id, AgentLiveness(lastSeenAt: Fixture.at(100)))
        try await store.saveLiveness(agentId: agents[3].id, AgentLiveness(lastSeenAt: Fixture.at(100), disconnectedAt: Fixture.at(100)))
        var counts = try await store.liveCounts(since: Fixture.at(50))
        #expect(counts.online == 1 && counts.degraded == 1)
        counts = try await store.liveCounts(since: Fixture.at(5))
        #expect(counts.online == 1 && counts.degraded == 2)
        // A revoked agent is counted as revoked, not live.
        try await store.revokeAgent(id: agents[0].id, now: Fixture.at(101), audit: nil)
        counts = try await store.liveCounts(since: Fixture.at(50))
        #expect(counts.online == 0 && counts.degraded == 1)
    }

    /// Node A's late disconnect races node B's connect, many times over: whichever commits first,
    /// the agent ends connected (on B), never offline.
    @Test func aStaleDisconnectRacingANewerConnectNeverLeavesTheAgentOfflineOnPostgres() async throws {
        let server = try await PostgresTestServer.shared()
        let location = try PostgresLocation(parsing: try await server.createDatabase(prefix: "liveness"))
        let nodeA = try await PostgresStore.open(location, password: nil, logger: Logger(label: "test.nodeA"))
        defer { nodeA.close() }
        let nodeB = try await PostgresStore.open(location, password: nil, logger: Logger(label: "test.nodeB"))
        defer { nodeB.close() }
        let agents = try await Self.enrolled(nodeA, count: 4)
        for round in 0..<15 {
            let at = Fixture.at(Double(round * 10))
            var connected: [String: Int] = [:]
            for agent in agents { connected[agent.id] = try await nodeA.recordConnect(agentId: agent.id, facts: Fixture.facts(), now: at).epoch }
            let onA = connected
            try await withThrowingTaskGroup(of: Void.self) { group in
                for agent in agents {
                    let epoch = onA[agent.id]
                    group.addTask { _ = try await nodeB.recordConnect(agentId: agent.id, facts: Fixture.facts(), now: at.addingTimeInterval(2)) }
                    group.addTask {
                        try await nodeA.saveLiveness(agentId: agent.id, AgentLiveness(disconnectedAt: at.addingTimeInterval(1), epoch: epoch))
                    }
                }
                group.addTask {
                    let batch = agents.map { (agentId: $0.id, liveness: AgentLiveness(disconnectedAt: at.addingTimeInterval(1), epoch: onA[$0.id])) }
                    let unknown = try await nodeA.saveLiveness(batch)
                    #expect(unknown.isEmpty)
                }
                try await group.waitForAll()
            }
            for agent in agents {
                let stored = try #require(try await nodeB.agent(id: agent.id))
                #expect(stored.connectedSince == at.addingTimeInterval(2) && stored.disconnectedAt == nil, "round \(round)")
            }
            // The stored liveness a node's fleet summary reads counts them all live.
            let counts = try await nodeA.liveCounts(since: at)
            #expect(counts.online + counts.degraded == agents.count)
        }
        // The sequential case, certain to be stale: B connected, then A's detach arrives.
        let agent = agents[0]
        let a = try await nodeA.recordConnect(agentId: agent.id, facts: Fixture.facts(), now: Fixture.at(1_000))
        _ = try await nodeB.recordConnect(agentId: agent.id, facts: Fixture.facts(), now: Fixture.at(1_001))
        try await nodeA.saveLiveness(agentId: agent.id, AgentLiveness(disconnectedAt: Fixture.at(1_002), epoch: a.epoch))
        #expect(try await nodeB.agent(id: agent.id)?.disconnectedAt == nil)
    }

    static func enrolled(_ store: any Store, count: Int) async throws -> [AgentRecord] {
        _ = try await store.createEnrollmentToken(hash: "tok-live", expiresAt: nil, uses: count, now: Fixture.t0)
        var agents: [AgentRecord] = []
        for i in 0..<count {
            agents.append(try await store.enrollAgent(tokenHash: "tok-live", publicKey: "live-\(i)", facts: Fixture.facts("live-\(i)"), now: Fixture.t0))
        }
        return agents
    }
}
