import Foundation
import RMMProtocol
import Testing

@testable import RMMStore

/// Enrollment's edge cases on both backends: the usual one-statement enrollment of PostgreSQL and
/// its careful path must give what SQLite gives, alone and under concurrency.
@Suite struct EnrollmentTests {
    @Test(arguments: StoreBackend.allCases)
    func concurrentEnrollmentsOnOneTokenProposingOneNameGetDistinctNames(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        defer { RegistryFixture.close(store) }
        let token = try await store.createEnrollmentToken(hash: "h", expiresAt: nil, uses: 12, now: Fixture.t0)
        let agents = try await withThrowingTaskGroup(of: AgentRecord.self) { group in
            for i in 0..<12 {
                group.addTask {
                    try await store.enrollAgent(tokenHash: "h", publicKey: "k\(i)", facts: Fixture.facts(i % 2 == 0 ? "web" : "WEB"), now: Fixture.t0, remote: "r\(i)")
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(Set(agents.map { AgentName.key($0.name) }) == Set(["web"] + (2...12).map { "web-\($0)" }))
        #expect(Set(try await store.agents().map(\.id)) == Set(agents.map(\.id)))
        #expect(try await store.enrollmentTokens().map(\.usesLeft) == [0])
        // One audit entry per agent, saying what it proposed when it got another name.
        let entries = try await store.auditLog(limit: 100).filter { $0.action == "agents.enroll" }
        #expect(entries.count == 12)
        for agent in agents {
            let number = try #require(Int(agent.publicKey.dropFirst()))
            let proposed = number % 2 == 0 ? "web" : "WEB"
            let proposal = proposed == agent.name ? "" : " (it proposed '\(proposed)')"
            let entry = entries.first { $0.targets == [agent.id] }
            #expect(entry?.detail == "enrolled as '\(agent.name)'\(proposal) with enrollment token \(token.id)")
            #expect(entry?.tokenId == token.id)
        }
    }

    @Test(arguments: StoreBackend.allCases)
    func concurrentEnrollmentsOfOneKeyOnALastUseAllGetTheOneAgent(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        defer { RegistryFixture.close(store) }
        _ = try await store.createEnrollmentToken(hash: "h", expiresAt: nil, uses: 1, now: Fixture.t0)
        let agents = try await withThrowingTaskGroup(of: AgentRecord.self) { group in
            for i in 0..<10 {
                group.addTask { try await store.enrollAgent(tokenHash: "h", publicKey: "same", facts: Fixture.facts("n\(i)"), now: Fixture.t0) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let agent = try #require(agents.first)
        #expect(agents.allSatisfy { $0 == agent })
        #expect(try await store.agents() == [agent])
        #expect(try await store.enrollmentTokens().map(\.usesLeft) == [0])
        #expect(try await store.auditLog(limit: 100).filter { $0.action == "agents.enroll" }.count == 1)
    }

    @Test(arguments: StoreBackend.allCases)
    func aTokenThatRefusesNewKeysStillReturnsAnEnrolledKeysAgent(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        defer { RegistryFixture.close(store) }
        let token = try await store.createEnrollmentToken(hash: "h", expiresAt: Fixture.at(60), uses: 1, now: Fixture.t0)
        let agent = try await store.enrollAgent(tokenHash: "h", publicKey: "k1", facts: Fixture.facts(), now: Fixture.t0)
        // Used up.
        #expect(try await store.enrollAgent(tokenHash: "h", publicKey: "k1", facts: Fixture.facts("other"), now: Fixture.t0) == agent)
        await #expect(throws: StoreError.enrollmentTokenUsedUp) {
            try await store.enrollAgent(tokenHash: "h", publicKey: "k2", facts: Fixture.facts(), now: Fixture.t0)
        }
        // Used up and expired.
        #expect(try await store.enrollAgent(tokenHash: "h", publicKey: "k1", facts: Fixture.facts(), now: Fixture.at(60)) == agent)
        await #expect(throws: StoreError.enrollmentTokenExpired) {
            try await store.enrollAgent(tokenHash: "h", publicKey: "k2", facts: Fixture.facts(), now: Fixture.at(60))
        }
        // Used up, expired and revoked.
        try await store.revokeEnrollmentToken(id: token.id, now: Fixture.at(61))
        #expect(try await store.enrollAgent(tokenHash: "h", publicKey: "k1", facts: Fixture.facts(), now: Fixture.at(62)) == agent)
        await #expect(throws: StoreError.enrollmentTokenRevoked) {
            try await store.enrollAgent(tokenHash: "h", publicKey: "k2", facts: Fixture.facts(), now: Fixture.at(62))
        }
        // An unknown token is refused even for an enrolled key.
        await #expect(throws: StoreError.enrollmentTokenUnknown) {
            try await store.enrollAgent(tokenHash: "nope", publicKey: "k1", facts: Fixture.facts(), now: Fixture.t0)
        }
        #expect(try await store.agents() == [agent])
        #expect(try await store.enrollmentTokens().map(\.usesLeft) == [0])
        #expect(try await store.auditLog(limit: 100).filter { $0.action == "agents.enroll" }.count == 1)
    }

    @Test(arguments: StoreBackend.allCases)
    func onlyAnEnrollmentThatMakesAnAgentSpendsAUse(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        defer { RegistryFixture.close(store) }
        let token = try await store.createEnrollmentToken(hash: "h", expiresAt: nil, uses: 5, now: Fixture.t0)
        let first = try await store.enrollAgent(tokenHash: "h", publicKey: "k1", facts: Fixture.facts("web"), now: Fixture.t0, remote: "10.0.0.1")
        #expect(try await store.enrollmentTokens().map(\.usesLeft) == [4])
        // The same key again: no agent made, no use spent.
        #expect(try await store.enrollAgent(tokenHash: "h", publicKey: "k1", facts: Fixture.facts("web"), now: Fixture.t0) == first)
        #expect(try await store.enrollmentTokens().map(\.usesLeft) == [4])
        // A taken name: the agent gets the next one, and one use is spent for it.
        let second = try await store.enrollAgent(tokenHash: "h", publicKey: "k2", facts: Fixture.facts("WEB"), now: Fixture.t0, remote: "10.0.0.2")
        #expect(second.name == "WEB-2")
        #expect(try await store.enrollmentTokens().map(\.usesLeft) == [3])
        let entries = try await store.auditLog(limit: 100).filter { $0.action == "agents.enroll" }
        #expect(entries.map(\.detail) == [
            "enrolled as 'WEB-2' (it proposed 'WEB') with enrollment token \(token.id)",
            "enrolled as 'web' with enrollment token \(token.id)",
        ])
        #expect(entries.map(\.targets) == [[second.id], [first.id]])
        #expect(entries.map(\.remote) == ["10.0.0.2", "10.0.0.1"])
        #expect(entries.allSatisfy { $0.actor == "agent" && $0.role == "agent" && $0.tokenId == token.id && $0.at == Fixture.t0 })
    }

    /// An insert the database refuses (here a trigger's error) leaves the token's uses and the
    /// audit log as they were: the use, the agent and its entry are one statement's work.
    @Test func aFailedAgentInsertSpendsNoUse() async throws {
        let store = try await StoreBackend.postgresStore()
        defer { store.close() }
        _ = try await store.createEnrollmentToken(hash: "h", expiresAt: nil, uses: 3, now: Fixture.t0)
        try await RegistryFixture.execute([
            """
            CREATE FUNCTION refuse_agents() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'no agents today';
            END
            $$
            """,
            "CREATE TRIGGER refuse_agents BEFORE INSERT ON agents FOR EACH ROW EXECUTE FUNCTION refuse_agents()",
        ], in: store)
        await #expect(throws: (any Error).self) {
            try await store.enrollAgent(tokenHash: "h", publicKey: "k1", facts: Fixture.facts(), now: Fixture.t0)
        }
        #expect(try await store.enrollmentTokens().map(\.usesLeft) == [3])
        #expect(try await store.agents().isEmpty)
        #expect(try await store.auditLog(limit: 100).isEmpty)
        try await RegistryFixture.execute(["DROP TRIGGER refuse_agents ON agents"], in: store)
        _ = try await store.enrollAgent(tokenHash: "h", publicKey: "k1", facts: Fixture.facts(), now: Fixture.t0)
        #expect(try await store.enrollmentTokens().map(\.usesLeft) == [2])
    }
}
