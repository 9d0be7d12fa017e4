import Foundation
import RMMProtocol
import RMMStore
import Testing

/// The link verdict history: bounded per agent, a repeat extends the newest entry.
@Suite struct VerdictStoreTests {
    static func enrolled(_ store: SQLiteStore, _ names: [String]) async throws -> [AgentRecord] {
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

    @Test func aRepeatExtendsTheNewestEntryAndAnythingElseAddsOne() async throws {
        let store = try SQLiteStore.inMemory()
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

    @Test func historyIsBoundedPerAgentAndKeepsTheNewest() async throws {
        let store = try SQLiteStore.inMemory()
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

    @Test func agentReportsCannotPushTheServersEvidenceOut() async throws {
        let store = try SQLiteStore.inMemory()
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

    @Test func oversizedEvidenceIsReplacedByANote() async throws {
        let store = try SQLiteStore.inMemory()
        let agent = try await Self.enrolled(store, ["a"])[0].id
        let big = VerdictRecord(agentId: agent, verdict: .halfOpen, source: .serverProbe, stage: .session, summary: "s",
                                evidence: Data(repeating: 0x41, count: VerdictRecord.maxEvidenceBytes + 1), firstAt: Fixture.t0)
        _ = try await store.recordVerdict(big, keep: 10)
        let stored = try #require(try await store.verdicts(agentId: agent, limit: 1).first)
        #expect(stored.evidence.count < 100)
        #expect(String(decoding: stored.evidence, as: UTF8.self).contains("omitted"))
    }
}
