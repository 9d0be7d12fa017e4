import Foundation
import RMMProtocol
import Testing
import RMMStore

@Suite struct AgentStoreTests {
    @Test(arguments: StoreBackend.allCases) func enrollmentConsumesUsesUntilUsedUp(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        defer { RegistryFixture.close(store) }
        let token = try await store.createEnrollmentToken(hash: "h", expiresAt: nil, uses: 2, now: Fixture.t0)
        #expect(token.usesLeft == 2)
        let a = try await store.enrollAgent(tokenHash: "h", publicKey: "k1", facts: Fixture.facts("a"), now: Fixture.t0)
        let b = try await store.enrollAgent(tokenHash: "h", publicKey: "k2", facts: Fixture.facts("b"), now: Fixture.t0)
        #expect(a.id != b.id)
        #expect(a.id.hasPrefix("ag_") && a.id.count == 19 && a.id == a.id.lowercased())
        #expect(try await store.enrollmentTokens().map(\.usesLeft) == [0])
        await #expect(throws: StoreError.enrollmentTokenUsedUp) {
            try await store.enrollAgent(tokenHash: "h", publicKey: "k3", facts: Fixture.facts("c"), now: Fixture.t0)
        }
        #expect(try await store.agents().count == 2)
    }

    @Test(arguments: StoreBackend.allCases) func lookingATokenUpUsesNothingAndSaysWhyItWouldBeRefused(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        defer { RegistryFixture.close(store) }
        _ = try await store.createEnrollmentToken(hash: "h", expiresAt: Fixture.at(60), uses: 1, now: Fixture.t0)
        let found = try #require(try await store.enrollmentToken(hash: "h"))
        #expect(found.usesLeft == 1 && found.refusal(now: Fixture.t0) == nil)
        #expect(found.refusal(now: Fixture.at(60)) == .enrollmentTokenExpired)
        #expect(try await store.enrollmentToken(hash: "other") == nil)
        #expect(try await store.enrollmentTokens().map(\.usesLeft) == [1], "a look-up is not a use")
        _ = try await store.enrollAgent(tokenHash: "h", publicKey: "k1", facts: Fixture.facts(), now: Fixture.t0)
        #expect(try await store.enrollmentToken(hash: "h")?.refusal(now: Fixture.t0) == .enrollmentTokenUsedUp)
    }

    @Test(arguments: StoreBackend.allCases) func reEnrollWithSameKeyReturnsSameAgentAndConsumesNothing(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        defer { RegistryFixture.close(store) }
        _ = try await store.createEnrollmentToken(hash: "h", expiresAt: Fixture.at(60), uses: 1, now: Fixture.t0)
        let first = try await store.enrollAgent(tokenHash: "h", publicKey: "k1", facts: Fixture.facts(), now: Fixture.t0)
        // The token is now used up and, later, expired: a retry after a lost reply still succeeds.
        let again = try await store.enrollAgent(tokenHash: "h", publicKey: "k1", facts: Fixture.facts(), now: Fixture.at(120))
        #expect(again == first)
        #expect(try await store.enrollmentTokens().first?.usesLeft == 0)
        #expect(try await store.agents() == [first])
    }

    @Test(arguments: StoreBackend.allCases) func enrollmentRefusesUnknownExpiredAndRevokedTokens(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        defer { RegistryFixture.close(store) }
        let expiring = try await store.createEnrollmentToken(hash: "exp", expiresAt: Fixture.at(60), uses: 5, now: Fixture.t0)
        let revoked = try await store.createEnrollmentToken(hash: "rev", expiresAt: nil, uses: 5, now: Fixture.t0)
        try await store.revokeEnrollmentToken(id: revoked.id, now: Fixture.at(1))
        try await store.revokeEnrollmentToken(id: revoked.id, now: Fixture.at(2))

        await #expect(throws: StoreError.enrollmentTokenUnknown) {
            try await store.enrollAgent(tokenHash: "nope", publicKey: "k", facts: Fixture.facts(), now: Fixture.t0)
        }
        await #expect(throws: StoreError.enrollmentTokenExpired) {
            try await store.enrollAgent(tokenHash: "exp", publicKey: "k", facts: Fixture.facts(), now: Fixture.at(60))
        }
        await #expect(throws: StoreError.enrollmentTokenRevoked) {
            try await store.enrollAgent(tokenHash: "rev", publicKey: "k", facts: Fixture.facts(), now: Fixture.t0)
        }
        let tokens = try await store.enrollmentTokens()
        #expect(tokens.map(\.usesLeft) == [5, 5])
        #expect(tokens.first { $0.id == revoked.id }?.revokedAt == Fixture.at(1))
        #expect(tokens.first { $0.id == expiring.id }?.expiresAt == Fixture.at(60))
        #expect(try await store.agents().isEmpty)
        await #expect(throws: StoreError.notFound("enrollment token 'et_missing'")) {
            try await store.revokeEnrollmentToken(id: "et_missing", now: Fixture.t0)
        }
        // Still valid just before its expiry.
        _ = try await store.enrollAgent(tokenHash: "exp", publicKey: "k", facts: Fixture.facts(), now: Fixture.at(59.999))
    }

    @Test(arguments: StoreBackend.allCases) func emptyNameFallsBackToHostname(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        defer { RegistryFixture.close(store) }
        _ = try await store.createEnrollmentToken(hash: "h", expiresAt: nil, uses: 1, now: Fixture.t0)
        let agent = try await store.enrollAgent(tokenHash: "h", publicKey: "k", facts: Fixture.facts("", hostname: "db-7"), now: Fixture.t0)
        #expect(agent.name == "db-7")
        #expect(try await store.agent(id: agent.id) == agent)
    }

    @Test(arguments: StoreBackend.allCases) func recordConnectIncrementsEpochAndStoresFacts(backend: StoreBackend) async throws {
        let (store, agent) = try await RegistryFixture.storeWithAgent(backend)
        defer { RegistryFixture.close(store) }
        #expect(agent.epoch == 0)
        try await store.saveLiveness(agentId: agent.id, AgentLiveness(disconnectedAt: Fixture.at(5)))
        let first = try await store.recordConnect(agentId: agent.id, facts: Fixture.facts("renamed"), now: Fixture.at(10))
        let second = try await store.recordConnect(
            agentId: agent.id, facts: AgentFacts(name: "renamed", hostname: "h2", os: "darwin", version: "2.0"), now: Fixture.at(20)
        )
        #expect(first.epoch == 1)
        #expect(second.epoch == 2)
        // A connect updates the facts but never the name: the server owns it.
        #expect(second.name == agent.name && second.hostname == "h2" && second.os == "darwin" && second.version == "2.0")
        #expect(second.connectedSince == Fixture.at(20) && second.lastSeenAt == Fixture.at(20))
        #expect(second.disconnectedAt == nil)
        #expect(try await store.agent(id: agent.id) == second)
        await #expect(throws: StoreError.notFound("agent 'ag_missing'")) {
            try await store.recordConnect(agentId: "ag_missing", facts: Fixture.facts(), now: Fixture.t0)
        }
    }

    @Test(arguments: StoreBackend.allCases) func recordConnectStoresTheRemoteAddress(backend: StoreBackend) async throws {
        let (store, agent) = try await RegistryFixture.storeWithAgent(backend)
        defer { RegistryFixture.close(store) }
        #expect(agent.remoteAddress == nil)
        let first = try await store.recordConnect(agentId: agent.id, facts: Fixture.facts(), remote: "203.0.113.7:50000", now: Fixture.at(10))
        #expect(first.remoteAddress == "203.0.113.7:50000")
        #expect(try await store.agent(id: agent.id)?.remoteAddress == "203.0.113.7:50000")
        // A connect whose address is not known keeps the last one; a known one replaces it.
        _ = try await store.recordConnect(agentId: agent.id, facts: Fixture.facts(), now: Fixture.at(20))
        #expect(try await store.agent(id: agent.id)?.remoteAddress == "203.0.113.7:50000")
        _ = try await store.recordConnect(agentId: agent.id, facts: Fixture.facts(), remote: "[2001:db8::5]:443", now: Fixture.at(30))
        // Liveness flushes leave it alone.
        try await store.saveLiveness(agentId: agent.id, AgentLiveness(lastSeenAt: Fixture.at(31)))
        let paged = try await store.agentPage(after: nil, limit: 10)
        #expect(paged.first?.remoteAddress == "[2001:db8::5]:443")
    }

    @Test(arguments: StoreBackend.allCases) func saveLivenessOverwritesOnlyGivenFields(backend: StoreBackend) async throws {
        let (store, agent) = try await RegistryFixture.storeWithAgent(backend)
        defer { RegistryFixture.close(store) }
        _ = try await store.recordConnect(agentId: agent.id, facts: Fixture.facts(), now: Fixture.at(1))
        let metrics = HostMetrics(cpuPercent: 12.5, memoryTotalBytes: 1 << 30, load1: 0.5)
        try await store.saveLiveness(
            agentId: agent.id,
            AgentLiveness(lastSeenAt: Fixture.at(5), lastDownlinkAt: Fixture.at(4), configVersionApplied: 3, lastPongRttMs: 12.25, metrics: metrics)
        )
        try await store.saveLiveness(agentId: agent.id, AgentLiveness(lastSeenAt: Fixture.at(6)))
        var stored = try #require(try await store.agent(id: agent.id))
        #expect(stored.lastSeenAt == Fixture.at(6))
        #expect(stored.lastDownlinkAt == Fixture.at(4))
        #expect(stored.configVersionApplied == 3 && stored.lastPongRttMs == 12.25 && stored.metrics == metrics)
        #expect(stored.connectedSince == Fixture.at(1))

        try await store.saveLiveness(agentId: agent.id, AgentLiveness(disconnectedAt: Fixture.at(7)))
        stored = try #require(try await store.agent(id: agent.id))
        #expect(stored.disconnectedAt == Fixture.at(7))
        #expect(stored.connectedSince == nil)
        await #expect(throws: StoreError.notFound("agent 'ag_missing'")) {
            try await store.saveLiveness(agentId: "ag_missing", AgentLiveness(lastSeenAt: Fixture.t0))
        }
    }

    @Test(arguments: StoreBackend.allCases) func saveLivenessBatchWritesEveryKnownAgentInOneWriteAndSkipsUnknownOnes(backend: StoreBackend) async throws {
        let (store, first) = try await RegistryFixture.storeWithAgent(backend)
        defer { RegistryFixture.close(store) }
        let second = try await store.enrollAgent(tokenHash: "tok", publicKey: "key-2", facts: Fixture.facts("web-2"), now: Fixture.t0)
        _ = try await store.recordConnect(agentId: first.id, facts: Fixture.facts(), now: Fixture.at(1))
        _ = try await store.recordConnect(agentId: second.id, facts: Fixture.facts("web-2"), now: Fixture.at(1))
        try await store.saveLiveness(agentId: first.id, AgentLiveness(lastDownlinkAt: Fixture.at(2), configVersionApplied: 3))
        let metrics = HostMetrics(cpuPercent: 7.5, memoryTotalBytes: 1 << 30, load1: 0.25)
        let before = (store as? SQLiteStore)?.commitCounts

        let unknown = try await store.saveLiveness([
            (agentId: first.id, liveness: AgentLiveness(lastSeenAt: Fixture.at(5), lastPongRttMs: 3.5, metrics: metrics)),
            (agentId: "ag_missing", liveness: AgentLiveness(lastSeenAt: Fixture.at(5))),
            (agentId: second.id, liveness: AgentLiveness(lastSeenAt: Fixture.at(6), disconnectedAt: Fixture.at(6))),
        ])

        // An unknown id is reported back and does not cost the others their write.
        #expect(unknown == ["ag_missing"])
        if let sqlite = store as? SQLiteStore, let before { #expect(sqlite.commitCounts.writes == before.writes + 1) }
        let a = try #require(try await store.agent(id: first.id))
        #expect(a.lastSeenAt == Fixture.at(5) && a.lastPongRttMs == 3.5 && a.metrics == metrics)
        // Fields the batch left nil keep their stored values.
        #expect(a.lastDownlinkAt == Fixture.at(2) && a.configVersionApplied == 3 && a.connectedSince == Fixture.at(1))
        // A disconnect clears the connection start, as in the single-agent method.
        let b = try #require(try await store.agent(id: second.id))
        #expect(b.lastSeenAt == Fixture.at(6) && b.disconnectedAt == Fixture.at(6) && b.connectedSince == nil)
        // A reconnect's liveness (connected since, and the last disconnect still on record) sets the start again.
        #expect(try await store.saveLiveness([(agentId: second.id, liveness: AgentLiveness(connectedSince: Fixture.at(8), disconnectedAt: Fixture.at(6)))]).isEmpty)
        #expect(try await store.agent(id: second.id)?.connectedSince == Fixture.at(8))
        // Nothing to save is no write at all.
        let idle = (store as? SQLiteStore)?.commitCounts
        #expect(try await store.saveLiveness([]).isEmpty)
        if let sqlite = store as? SQLiteStore, let idle { #expect(sqlite.commitCounts.writes == idle.writes) }
    }

    @Test(arguments: StoreBackend.allCases) func aBatchNamingAnAgentTwiceAppliesItsFlushesInOrder(backend: StoreBackend) async throws {
        let (store, agent) = try await RegistryFixture.storeWithAgent(backend)
        defer { RegistryFixture.close(store) }
        #expect(try await store.saveLiveness([
            (agentId: agent.id, liveness: AgentLiveness(lastSeenAt: Fixture.at(5), connectedSince: Fixture.at(4))),
            (agentId: "ag_missing", liveness: AgentLiveness(lastSeenAt: Fixture.at(5))),
            (agentId: agent.id, liveness: AgentLiveness(disconnectedAt: Fixture.at(6))),
            (agentId: "ag_missing", liveness: AgentLiveness(lastSeenAt: Fixture.at(6))),
        ]) == ["ag_missing", "ag_missing"])
        var stored = try #require(try await store.agent(id: agent.id))
        #expect(stored.lastSeenAt == Fixture.at(5) && stored.disconnectedAt == Fixture.at(6) && stored.connectedSince == nil)
        _ = try await store.saveLiveness([
            (agentId: agent.id, liveness: AgentLiveness(disconnectedAt: Fixture.at(7))),
            (agentId: agent.id, liveness: AgentLiveness(connectedSince: Fixture.at(8))),
        ])
        stored = try #require(try await store.agent(id: agent.id))
        #expect(stored.disconnectedAt == Fixture.at(7) && stored.connectedSince == Fixture.at(8))
    }

    @Test(arguments: StoreBackend.allCases) func resolveAgentPrefersIdThenUniqueName(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        defer { RegistryFixture.close(store) }
        _ = try await store.createEnrollmentToken(hash: "h", expiresAt: nil, uses: 10, now: Fixture.t0)
        let a = try await store.enrollAgent(tokenHash: "h", publicKey: "k1", facts: Fixture.facts("alpha"), now: Fixture.t0)
        let b1 = try await store.enrollAgent(tokenHash: "h", publicKey: "k2", facts: Fixture.facts("twin"), now: Fixture.t0)
        let b2 = try await store.enrollAgent(tokenHash: "h", publicKey: "k3", facts: Fixture.facts("twin"), now: Fixture.t0)
        // A proposed name that looks like an id is not taken as it is.
        let c = try await store.enrollAgent(tokenHash: "h", publicKey: "k4", facts: Fixture.facts(a.id), now: Fixture.t0)
        #expect(b2.name == "twin-2")
        #expect(!c.name.hasPrefix("ag_"))

        #expect(try await store.resolveAgent(a.id) == a)
        #expect(try await store.resolveAgent("alpha") == a)
        #expect(try await store.resolveAgent("ALPHA") == a)
        #expect(try await store.resolveAgent(b1.id) == b1)
        #expect(try await store.resolveAgent("twin") == b1)
        #expect(try await store.resolveAgent("Twin-2") == b2)
        #expect(try await store.resolveAgent("nobody") == nil)

        // Many targets in one read, each answered as above, in the order given.
        try await store.revokeAgent(id: b2.id, now: Fixture.at(1))
        let revoked = try #require(try await store.agent(id: b2.id))
        let targets = ["twin", a.id, "nobody", "ALPHA", "Twin-2", b1.id, "", "alpha"]
        let resolved = try await store.resolveAgents(targets).map { try $0.get() }
        #expect(resolved == [b1, a, nil, a, revoked, b1, nil, a])
        #expect(try await store.resolveAgents([]).isEmpty)
        // The same answers one at a time.
        for target in targets { #expect(try await store.resolveAgent(target) == resolved[targets.firstIndex(of: target) ?? 0]) }
    }

    @Test(arguments: StoreBackend.allCases) func liveAgentNamesLeaveOutTheRevokedInNameOrder(backend: StoreBackend) async throws {
        let (store, web1) = try await RegistryFixture.storeWithAgent(backend)
        defer { RegistryFixture.close(store) }
        let db = try await store.enrollAgent(tokenHash: "tok", publicKey: "key-2", facts: Fixture.facts("db-1"), now: Fixture.t0)
        let gone = try await store.enrollAgent(tokenHash: "tok", publicKey: "key-3", facts: Fixture.facts("app-1"), now: Fixture.t0)
        try await store.revokeAgent(id: gone.id, now: Fixture.at(1))
        let live = try await store.liveAgentNames()
        #expect(live.map(\.id) == [db.id, web1.id])
        #expect(live.map(\.name) == ["db-1", "web-1"])
    }

    @Test(arguments: StoreBackend.allCases) func revokeAgentKeepsFirstTime(backend: StoreBackend) async throws {
        let (store, agent) = try await RegistryFixture.storeWithAgent(backend)
        defer { RegistryFixture.close(store) }
        try await store.revokeAgent(id: agent.id, now: Fixture.at(3))
        try await store.revokeAgent(id: agent.id, now: Fixture.at(9))
        #expect(try await store.agent(id: agent.id)?.revokedAt == Fixture.at(3))
        await #expect(throws: StoreError.notFound("agent 'ag_x'")) { try await store.revokeAgent(id: "ag_x", now: Fixture.t0) }
    }
}
