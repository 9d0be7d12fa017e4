import Foundation
import RMMProtocol
import RMMStore
import Testing

/// The link verdict history: bounded per agent, a repeat extends the newest entry.
@Suite struct VerdictStoreTests {
    static func enrolled(_ store: any Store, _ names: [String]) async throws -> [AgentRecord] {
        _ = try await store.createEnrollmentToken(hash: "h", expiresAt: nil, uses: 10, now: Fixture.t0)
        var agents: [AgentRecord] = []
        for name in names {
            agents.append(try await store.enrollAgent(tokenHash: "h", publicKey: "key-\(name)", facts: Fixture.facts(name), now: Fixture.t0))
        }
        return agents
    }

    static func entry(_ agent: String, _ verdict: LinkVerdict, _ source: LinkVerdictSource = .serverProbe, _ stage: LinkStage = .session,
                      at seconds: Double, summary: String = "why") -> VerdictRecord {
        VerdictRecord(agentId: agent, verdict: verdict, source: source, stage: stage, summary: summary, evidence: Data("{}".utf8), firstAt: Fixture.at(seconds))
    }

    @Test(arguments: StoreBackend.allCases) func aRepeatExtendsTheNewestEntryAndAnythingElseAddsOne(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        defer { RegistryFixture.close(store) }
        let agent = try await Self.enrolled(store, ["a"])[0].id
        let first = try await store.recordVerdict(Self.entry(agent, .pathFiltersData, .handshake, .challenge, at: 1), keep: 100)
        #expect(first.count == 1)
        let again = try await store.recordVerdict(Self.entry(agent, .pathFiltersData, .handshake, .challenge, at: 5, summary: "newer"), keep: 100)
        #expect(again.id == first.id)
        #expect(again.count == 2)
        #expect(again.firstAt == Fixture.at(1))
        #expect(again.lastAt == Fixture.at(5))
        #expect(again.summary == "newer")
        // Another source, stage or verdict is a new entry; a later repeat of the older one is new too.
        _ = try await store.recordVerdict(Self.entry(agent, .pathFiltersData, .agentReport, .challenge, at: 6), keep: 100)
        _ = try await store.recordVerdict(Self.entry(agent, .healthy, at: 7), keep: 100)
        let back = try await store.recordVerdict(Self.entry(agent, .pathFiltersData, .handshake, .challenge, at: 8), keep: 100)
        #expect(back.count == 1)
        let history = try await store.verdicts(agentId: agent, limit: 100)
        #expect(history.map(\.verdict) == [.pathFiltersData, .healthy, .pathFiltersData, .pathFiltersData])
        #expect(history.map(\.count) == [1, 1, 1, 2])
    }

    @Test(arguments: StoreBackend.allCases) func historyIsBoundedPerAgentAndKeepsTheNewest(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        defer { RegistryFixture.close(store) }
        let agents = try await Self.enrolled(store, ["a", "b"])
        let verdicts: [LinkVerdict] = [.healthy, .halfOpen]
        for i in 0..<12 {
            _ = try await store.recordVerdict(Self.entry(agents[0].id, verdicts[i % 2], at: Double(i)), keep: 5)
        }
        _ = try await store.recordVerdict(Self.entry(agents[1].id, .superseded, at: 0), keep: 5)
        let history = try await store.verdicts(agentId: agents[0].id, limit: 100)
        #expect(history.count == 5)
        #expect(history.first?.lastAt == Fixture.at(11))
        #expect(history.last?.lastAt == Fixture.at(7))
        // Another agent's history is its own.
        #expect(try await store.verdicts(agentId: agents[1].id, limit: 100).map(\.verdict) == [.superseded])
        #expect(try await store.verdicts(agentId: agents[0].id, limit: 2).count == 2)
    }

    @Test(arguments: StoreBackend.allCases) func agentReportsCannotPushTheServersEvidenceOut(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        defer { RegistryFixture.close(store) }
        let agent = try await Self.enrolled(store, ["a"])[0].id
        _ = try await store.recordVerdict(Self.entry(agent, .pathFiltersData, .handshake, .challenge, at: 0), keep: 10)
        _ = try await store.recordVerdict(Self.entry(agent, .halfOpen, .serverProbe, .session, at: 1), keep: 10)
        let kinds: [LinkVerdict] = [.agentStalled, .pathFiltersData]
        for i in 0..<50 {
            _ = try await store.recordVerdict(Self.entry(agent, kinds[i % 2], .agentReport, .session, at: Double(2 + i)), keep: 10)
        }
        let history = try await store.verdicts(agentId: agent, limit: 100)
        #expect(history.filter { $0.source == .agentReport }.count == VerdictRecord.agentReportsKept(of: 10))
        #expect(history.filter { $0.source != .agentReport }.map(\.verdict) == [.halfOpen, .pathFiltersData])
        #expect(history.first?.lastAt == Fixture.at(51), "the newest agent report stays")
    }

    @Test(arguments: StoreBackend.allCases) func oversizedEvidenceIsReplacedByANote(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        defer { RegistryFixture.close(store) }
        let agent = try await Self.enrolled(store, ["a"])[0].id
        let big = VerdictRecord(agentId: agent, verdict: .halfOpen, source: .serverProbe, stage: .session, summary: "s",
                                evidence: Data(repeating: 0x41, count: VerdictRecord.maxEvidenceBytes + 1), firstAt: Fixture.t0)
        _ = try await store.recordVerdict(big, keep: 10)
        let stored = try #require(try await store.verdicts(agentId: agent, limit: 1).first)
        #expect(stored.evidence.count < 100)
        #expect(String(decoding: stored.evidence, as: UTF8.self).contains("omitted"))
    }

    @Test("a delay note goes only on commands still sent, once per prefix, in the order asked", arguments: StoreBackend.allCases)
    func delayNotesOnlySentCommandsOnce(backend: StoreBackend) async throws {
        let (store, agent) = try await RegistryFixture.storeWithAgent(backend)
        defer { RegistryFixture.close(store) }
        try await RegistryFixture.command("c_q", agent: agent.id, sent: false, in: store)
        try await RegistryFixture.command("c_s", agent: agent.id, sent: true, in: store)
        try await RegistryFixture.command("c_t", agent: agent.id, sent: true, in: store)
        let note = "delayed by link verdict x (a, b) since T: y"
        let once = "delayed by link verdict x ("
        #expect(try await store.noteDelay(commandIds: ["c_t", "c_q", "c_s", "c_s", "c_missing"], note: note, once: once, now: Fixture.at(2)) == ["c_t", "c_s"])
        #expect(try await RegistryFixture.historyReasons("c_q", in: store).allSatisfy { $0?.hasPrefix("delayed") != true })
        #expect(try await RegistryFixture.historyReasons("c_s", in: store).last == note)
        // Once per prefix: the same kind again notes nothing, another kind notes again.
        #expect(try await store.noteDelay(commandIds: ["c_s"], note: note + " again", once: once, now: Fixture.at(3)).isEmpty)
        #expect(try await store.noteDelay(commandIds: ["c_s"], note: "delayed by link verdict z (q)", once: "delayed by link verdict z (", now: Fixture.at(3)) == ["c_s"])
        // A note that does not start with its prefix, or no commands, notes nothing.
        #expect(try await store.noteDelay(commandIds: ["c_t"], note: "other", once: "delayed", now: Fixture.at(4)).isEmpty)
        #expect(try await store.noteDelay(commandIds: [], note: note, once: once, now: Fixture.at(4)).isEmpty)
    }

    @Test(arguments: StoreBackend.allCases)
    func linkDiagnosisIsKeptPerAgent(backend: StoreBackend) async throws {
        let (store, agent) = try await RegistryFixture.storeWithAgent(backend)
        defer { RegistryFixture.close(store) }
        #expect(try await store.linkDiagnosis(agentId: agent.id) == nil)
        try await store.saveLinkDiagnosis(agentId: agent.id, Data("{\"a\":1}".utf8))
        try await store.saveLinkDiagnosis(agentId: agent.id, Data("{\"a\":2}".utf8))
        #expect(try await store.linkDiagnosis(agentId: agent.id) == Data("{\"a\":2}".utf8))
        #expect(try await store.linkDiagnosis(agentId: "ag_missing") == nil)
        await #expect(throws: StoreError.notFound("agent 'ag_missing'")) {
            try await store.saveLinkDiagnosis(agentId: "ag_missing", Data("{}".utf8))
        }
    }
}
