import Foundation
import RMMProtocol
import RMMStore
import Testing

/// What `GET /agents` reads a page at a time: agents by keyset, and each page's latest verdicts
/// and diagnoses in one query each.
@Suite struct AgentListStoreTests {
    @Test(arguments: StoreBackend.allCases) func pagesWalkEveryAgentInNameOrderOnce(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        defer { RegistryFixture.close(store) }
        let names = (0..<7).map { "agent-\($0)" }.shuffled()
        _ = try await VerdictStoreTests.enrolled(store, names)
        var seen: [String] = []
        var cursor: AgentPageCursor?
        while true {
            let page = try await store.agentPage(after: cursor, limit: 3)
            #expect(page.count <= 3)
            guard let last = page.last else { break }
            seen += page.map(\.name)
            cursor = AgentPageCursor(after: last)
        }
        #expect(seen == names.sorted())
        #expect(try await store.agents().map(\.name) == seen)
        #expect(try await store.agentPage(after: nil, limit: 0).isEmpty)
    }

    @Test(arguments: StoreBackend.allCases) func latestVerdictsGivesEachAgentsNewestOnlyForTheAgentsAsked(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        defer { RegistryFixture.close(store) }
        let agents = try await VerdictStoreTests.enrolled(store, ["a", "b", "c", "d"])
        let (a, b, c, d) = (agents[0].id, agents[1].id, agents[2].id, agents[3].id)
        _ = try await store.recordVerdict(VerdictStoreTests.entry(a, .pathFiltersData, .handshake, .challenge, at: 1), keep: 100)
        _ = try await store.recordVerdict(VerdictStoreTests.entry(a, .healthy, at: 2), keep: 100)
        _ = try await store.recordVerdict(VerdictStoreTests.entry(b, .halfOpen, at: 3), keep: 100)
        _ = try await store.recordVerdict(VerdictStoreTests.entry(d, .superseded, at: 4), keep: 100)

        let latest = try await store.latestVerdicts(agentIds: [a, b, c], only: nil)
        #expect(latest[a]?.verdict == .healthy)
        #expect(latest[a]?.lastAt == Fixture.at(2))
        #expect(latest[b]?.verdict == .halfOpen)
        #expect(latest[c] == nil)
        #expect(latest[d] == nil, "an agent not asked for is left out")
        #expect(latest[a] == (try await store.verdicts(agentId: a, limit: 1).first))

        let filtering = try await store.latestVerdicts(agentIds: [a, b], only: .pathFiltersData)
        #expect(filtering[a]?.verdict == .pathFiltersData)
        #expect(filtering[a]?.lastAt == Fixture.at(1))
        #expect(filtering[b] == nil)
        #expect(try await store.latestVerdicts(agentIds: [], only: nil).isEmpty)
    }

    @Test("of one kind, the server's own evidence comes before a newer agent report alone; the report when there is nothing else", arguments: StoreBackend.allCases)
    func latestOfAKindPrefersTheServersEvidence(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        defer { RegistryFixture.close(store) }
        let agents = try await VerdictStoreTests.enrolled(store, ["a", "b"])
        let (a, b) = (agents[0].id, agents[1].id)
        _ = try await store.recordVerdict(VerdictStoreTests.entry(a, .pathFiltersData, .handshake, .challenge, at: 1), keep: 100)
        _ = try await store.recordVerdict(VerdictStoreTests.entry(a, .pathFiltersData, .agentReport, .session, at: 2), keep: 100)
        _ = try await store.recordVerdict(VerdictStoreTests.entry(b, .pathFiltersData, .agentReport, .session, at: 3), keep: 100)
        let causes = try await store.latestVerdicts(agentIds: [a, b], only: .pathFiltersData)
        #expect(causes[a]?.source == .handshake)
        #expect(causes[b]?.source == .agentReport)
        #expect(try await store.latestVerdicts(agentIds: [a], only: nil)[a]?.source == .agentReport, "the current verdict is the newest, whoever found it")
    }

    @Test(arguments: StoreBackend.allCases) func linkDiagnosesReadsThePagesStoredDiagnoses(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        defer { RegistryFixture.close(store) }
        let agents = try await VerdictStoreTests.enrolled(store, ["a", "b", "c"])
        try await store.saveLinkDiagnosis(agentId: agents[0].id, Data("{\"x\":1}".utf8))
        try await store.saveLinkDiagnosis(agentId: agents[2].id, Data("{\"x\":3}".utf8))
        let stored = try await store.linkDiagnoses(agentIds: [agents[0].id, agents[1].id])
        #expect(stored == [agents[0].id: Data("{\"x\":1}".utf8)])
    }

    @Test("names are listed and paged in byte order, whatever the database's collation", arguments: StoreBackend.allCases)
    func pagesUseByteOrder(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        defer { RegistryFixture.close(store) }
        let names = ["b", "B-1", "a-1", "a1", "_x", "Z", "a 2", "\u{E9}t\u{E9}", "e"]
        _ = try await VerdictStoreTests.enrolled(store, names)
        let byteOrder = names.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        #expect(try await store.agents().map(\.name) == byteOrder)
        #expect(try await store.liveAgentNames().map(\.name) == byteOrder)
        var seen: [String] = []
        var cursor: AgentPageCursor?
        while true {
            let page = try await store.agentPage(after: cursor, limit: 2)
            guard let last = page.last else { break }
            seen += page.map(\.name)
            cursor = AgentPageCursor(after: last)
        }
        #expect(seen == byteOrder)
        try await store.revokeAgent(id: try #require(try await store.agents().last?.id), now: Fixture.t0)
        let counts = try await store.agentCounts()
        #expect(counts.enrolled == names.count && counts.revoked == 1)
        let names2 = try await store.agentNames(ids: [try #require(try await store.agents().first?.id), "ag_missing"])
        #expect(names2.values.sorted() == [byteOrder[0]])
    }
}
