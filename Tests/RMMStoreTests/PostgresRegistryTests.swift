import Foundation
import Logging
import RMMProtocol
import RMMTestSupport
import Testing

@testable import RMMStore

/// What only the PostgreSQL store can meet: rows another writer left unreadable, and a schema
/// that keeps its own rules.
@Suite("PostgreSQL store: registry rows")
struct PostgresRegistryTests {
    @Test("unreadable rows are reported as corrupt, naming the table, the row and the column")
    func unreadableRowsAreCorrupt() async throws {
        let store = try await StoreBackend.postgresStore()
        defer { store.close() }
        let agent = try await Fixture.enrolledAgent(store)
        _ = try await store.recordVerdict(VerdictStoreTests.entry(agent.id, .halfOpen, at: 1), keep: 10)
        try await RegistryFixture.execute([
            "UPDATE link_verdicts SET verdict = 'no-such-verdict'",
            "UPDATE agents SET metrics_json = 'not json'",
            "INSERT INTO settings (key, value, version) VALUES ('agent_config', '{', 1)",
            "INSERT INTO audit_log (at, actor, role, action, targets, detail, remote) VALUES (0, 'a', 'r', 'x', 'nope', '', '')",
        ], in: store)
        await Self.expectCorrupt(mentioning: ["link_verdicts", "verdict", "no-such-verdict"]) { _ = try await store.verdicts(agentId: agent.id, limit: 10) }
        await Self.expectCorrupt(mentioning: ["agent metrics"]) { _ = try await store.agent(id: agent.id) }
        await Self.expectCorrupt(mentioning: ["settings", "value"]) { _ = try await store.config() }
        await Self.expectCorrupt(mentioning: ["audit_log", "targets"]) { _ = try await store.auditLog(limit: 10) }
    }

    private static func expectCorrupt(mentioning words: [String], sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void) async {
        do {
            try await body()
            Issue.record("expected corrupt, nothing was thrown", sourceLocation: sourceLocation)
        } catch {
            guard case .corrupt(let why) = error as? StoreError, words.allSatisfy({ why.contains($0) }) else {
                Issue.record("expected corrupt mentioning \(words), got \(error)", sourceLocation: sourceLocation)
                return
            }
        }
    }

    @Test("a verdict for an unknown agent is notFound")
    func verdictForUnknownAgent() async throws {
        let store = try await StoreBackend.postgresStore()
        defer { store.close() }
        await #expect(throws: StoreError.notFound("agent 'ag_missing'")) {
            try await store.recordVerdict(VerdictStoreTests.entry("ag_missing", .halfOpen, at: 1), keep: 10)
        }
    }

    @Test("what one node writes another node on the same database reads, dates bit for bit")
    func secondNodeSeesTheRegistry() async throws {
        let server = try await PostgresTestServer.shared()
        let location = try PostgresLocation(parsing: try await server.createDatabase(prefix: "nodes"))
        let first = try await PostgresStore.open(location, password: nil, logger: Logger(label: "test.node1"))
        defer { first.close() }
        let second = try await PostgresStore.open(location, password: nil, logger: Logger(label: "test.node2"))
        defer { second.close() }
        let now = Date()  // an arbitrary, sub-microsecond date must round-trip exactly
        let metrics = HostMetrics(cpuPercent: 1.5, uptimeSeconds: 99)
        _ = try await first.createEnrollmentToken(hash: "tok", expiresAt: now.addingTimeInterval(3600), uses: 3, now: now)
        let enrolled = try await first.enrollAgent(tokenHash: "tok", publicKey: "key", facts: Fixture.facts(), now: now)
        var agent = try await first.recordConnect(agentId: enrolled.id, facts: Fixture.facts(), now: now)
        try await first.saveLiveness(agentId: agent.id, AgentLiveness(lastPongRttMs: 0.1 + 0.2, metrics: metrics))
        agent.lastPongRttMs = 0.1 + 0.2
        agent.metrics = metrics
        let token = try await first.createAPIToken(name: "ops", role: "admin", hash: "api", now: now)
        let config = try await first.saveConfig(.defaults)

        #expect(try await second.agent(id: agent.id) == agent)
        #expect(try await second.agent(id: agent.id)?.enrolledAt == now)
        #expect(try await second.apiToken(hash: "api") == token)
        #expect(try await second.config() == config)
        #expect(try await second.enrollmentTokens().first?.usesLeft == 2)
        #expect(try await second.enrollmentTokens().first?.expiresAt == now.addingTimeInterval(3600))
        // The second node's enrollment with the same key is the same agent.
        #expect(try await second.enrollAgent(tokenHash: "tok", publicKey: "key", facts: Fixture.facts(), now: now).id == agent.id)
    }
}
