import Foundation
import RMMProtocol
import RMMStore
import Testing

/// The registry roles' check-then-write methods called concurrently, as several server nodes
/// sharing one database call them: every decision holds.
@Suite struct RegistryConcurrencyTests {
    @Test(arguments: StoreBackend.allCases)
    func concurrentEnrollmentsNeverSpendMoreThanTheTokensUses(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        defer { RegistryFixture.close(store) }
        _ = try await store.createEnrollmentToken(hash: "h", expiresAt: nil, uses: 10, now: Fixture.t0)
        let outcomes = await withTaskGroup(of: Result<AgentRecord, any Error>.self) { group in
            for i in 0..<20 {
                group.addTask {
                    await RegistryFixture.outcome { try await store.enrollAgent(tokenHash: "h", publicKey: "k\(i)", facts: Fixture.facts("n\(i)"), now: Fixture.t0) }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        let enrolled = outcomes.compactMap { try? $0.get() }
        #expect(enrolled.count == 10)
        #expect(outcomes.allSatisfy { outcome in
            if case .failure(let error) = outcome { return error as? StoreError == .enrollmentTokenUsedUp }
            return true
        })
        #expect(try await store.agents().count == 10)
        #expect(try await store.enrollmentTokens().map(\.usesLeft) == [0])
        #expect(try await store.auditLog(limit: 100).filter { $0.action == "agents.enroll" }.count == 10)
    }

    @Test(arguments: StoreBackend.allCases)
    func concurrentEnrollmentsProposingOneNameGetDistinctNames(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        defer { RegistryFixture.close(store) }
        // A token each, so that nothing but the names' uniqueness orders them.
        for i in 0..<8 { _ = try await store.createEnrollmentToken(hash: "h\(i)", expiresAt: nil, uses: 1, now: Fixture.t0) }
        let agents = try await withThrowingTaskGroup(of: AgentRecord.self) { group in
            for i in 0..<8 {
                group.addTask {
                    try await store.enrollAgent(tokenHash: "h\(i)", publicKey: "k\(i)", facts: Fixture.facts(i % 2 == 0 ? "web" : "WEB"), now: Fixture.t0)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(Set(agents.map { AgentName.key($0.name) }).count == 8)
        #expect(Set(agents.map { AgentName.key($0.name) }) == Set(["web"] + (2...8).map { "web-\($0)" }))
    }

    @Test(arguments: StoreBackend.allCases)
    func concurrentEnrollmentsWithOneKeyMakeOneAgentAndSpendOneUse(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        defer { RegistryFixture.close(store) }
        for i in 0..<6 { _ = try await store.createEnrollmentToken(hash: "h\(i)", expiresAt: nil, uses: 5, now: Fixture.t0) }
        let agents = try await withThrowingTaskGroup(of: AgentRecord.self) { group in
            for i in 0..<6 {
                group.addTask { try await store.enrollAgent(tokenHash: "h\(i % 3)", publicKey: "same", facts: Fixture.facts(), now: Fixture.t0) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(Set(agents.map(\.id)).count == 1)
        #expect(try await store.agents().count == 1)
        #expect(try await store.enrollmentTokens().map(\.usesLeft).reduce(0, +) == 6 * 5 - 1)
    }

    @Test(arguments: StoreBackend.allCases)
    func twoConcurrentRenamesToOneNameOneWinsOneConflicts(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        defer { RegistryFixture.close(store) }
        _ = try await store.createEnrollmentToken(hash: "h", expiresAt: nil, uses: 20, now: Fixture.t0)
        for round in 0..<5 {
            let a = try await store.enrollAgent(tokenHash: "h", publicKey: "a\(round)", facts: Fixture.facts("a\(round)"), now: Fixture.t0)
            let b = try await store.enrollAgent(tokenHash: "h", publicKey: "b\(round)", facts: Fixture.facts("b\(round)"), now: Fixture.t0)
            async let first = RegistryFixture.outcome { try await store.renameAgent(id: a.id, to: "target-\(round)", audit: nil) }
            async let second = RegistryFixture.outcome { try await store.renameAgent(id: b.id, to: "TARGET-\(round)", audit: nil) }
            let outcomes = await [first, second]
            let winners = outcomes.compactMap { try? $0.get() }
            #expect(winners.count == 1)
            let refusal = outcomes.compactMap { outcome -> (any Error)? in
                if case .failure(let error) = outcome { return error }
                return nil
            }.first
            guard case .conflict(let why) = refusal as? StoreError else {
                Issue.record("expected a conflict, got \(String(describing: refusal))")
                continue
            }
            #expect(why.contains("is taken by agent \(winners.first?.id ?? "?")"), "\(why)")
            #expect(try await store.resolveAgent("target-\(round)")?.id == winners.first?.id)
        }
    }

    @Test(arguments: StoreBackend.allCases)
    func concurrentConnectsOfOneAgentGetDistinctGrowingEpochs(backend: StoreBackend) async throws {
        let (store, agent) = try await RegistryFixture.storeWithAgent(backend)
        defer { RegistryFixture.close(store) }
        let epochs = try await withThrowingTaskGroup(of: Int.self) { group in
            for i in 0..<12 {
                group.addTask { try await store.recordConnect(agentId: agent.id, facts: Fixture.facts(), now: Fixture.at(Double(i))).epoch }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(epochs.sorted() == Array(1...12))
        #expect(try await store.agent(id: agent.id)?.epoch == 12)
        // Sequential connects: the later one's epoch is larger.
        let earlier = try await store.recordConnect(agentId: agent.id, facts: Fixture.facts(), now: Fixture.at(20)).epoch
        let later = try await store.recordConnect(agentId: agent.id, facts: Fixture.facts(), now: Fixture.at(21)).epoch
        #expect(later > earlier)
    }

    @Test(arguments: StoreBackend.allCases)
    func concurrentConfigSavesNeverShareAVersion(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        defer { RegistryFixture.close(store) }
        let versions = try await withThrowingTaskGroup(of: Int.self) { group in
            for i in 0..<10 {
                group.addTask {
                    var config = AgentConfig.defaults
                    config.labels = ["save": "\(i)"]
                    return try await store.saveConfig(config).version
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let base = AgentConfig.defaults.version
        #expect(versions.sorted() == Array((base + 1)...(base + 10)))
        #expect(try await store.config().version == base + 10)
    }

    @Test(arguments: StoreBackend.allCases)
    func concurrentRepeatsOfAVerdictAreEachCounted(backend: StoreBackend) async throws {
        let (store, agent) = try await RegistryFixture.storeWithAgent(backend)
        defer { RegistryFixture.close(store) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<10 {
                group.addTask { _ = try await store.recordVerdict(VerdictStoreTests.entry(agent.id, .halfOpen, at: Double(i)), keep: 100) }
            }
            try await group.waitForAll()
        }
        let history = try await store.verdicts(agentId: agent.id, limit: 100)
        #expect(history.map(\.count) == [10])
        #expect(history.first?.lastAt == Fixture.at(9) && history.first?.firstAt != nil)
    }

    @Test(arguments: StoreBackend.allCases)
    func concurrentDelayNotesOfOneCommandNoteItOnce(backend: StoreBackend) async throws {
        let (store, agent) = try await RegistryFixture.storeWithAgent(backend)
        defer { RegistryFixture.close(store) }
        try await RegistryFixture.command("c1", agent: agent.id, sent: true, in: store)
        let noted = try await withThrowingTaskGroup(of: [String].self) { group in
            for i in 0..<6 {
                group.addTask {
                    try await store.noteDelay(commandIds: ["c1"], note: "delayed by link verdict x (\(i))", once: "delayed by link verdict x (", now: Fixture.at(1))
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(noted == ["c1"])
        #expect(try await RegistryFixture.historyReasons("c1", in: store).compactMap { $0 }.filter { $0.hasPrefix("delayed") }.count == 1)
    }

    @Test(arguments: StoreBackend.allCases)
    func overlappingLivenessBatchesInOppositeOrdersBothApply(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        defer { RegistryFixture.close(store) }
        let agents = try await VerdictStoreTests.enrolled(store, (0..<8).map { "a\($0)" })
        let ids = agents.map(\.id)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for round in 0..<6 {
                let order = round % 2 == 0 ? ids : ids.reversed()
                group.addTask {
                    let unknown = try await store.saveLiveness(order.map { (agentId: $0, liveness: AgentLiveness(lastSeenAt: Fixture.at(Double(round)))) })
                    #expect(unknown.isEmpty)
                }
            }
            try await group.waitForAll()
        }
        for id in ids {
            let seen = try #require(try await store.agent(id: id)?.lastSeenAt)
            #expect((0..<6).map { Fixture.at(Double($0)) }.contains(seen))
        }
    }
}
