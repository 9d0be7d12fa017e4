import Foundation
import RMMProtocol
import Testing

@testable import RMMStore

/// Every audited state change stores its entry in its own transaction: an action that fails
/// leaves no entry, and one that succeeds always has one, with the acting token's id.
@Suite struct AuditTransactionTests {
    private func entry(_ action: String, _ targets: [String] = []) -> AuditEntry {
        AuditEntry(at: Fixture.t0, actor: "boss", tokenId: "tk_boss", role: "admin", action: action, targets: targets, detail: "d", remote: "127.0.0.1:1")
    }

    private func actions(_ store: any Store) async throws -> [String] {
        try await store.auditLog(limit: 1000).reversed().map(\.action)
    }

    @Test(arguments: StoreBackend.allCases) func failingActionsLeaveNoEntry(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        defer { RegistryFixture.close(store) }
        _ = try await store.createEnrollmentToken(hash: "dup", expiresAt: nil, uses: 1, now: Fixture.t0)
        _ = try await store.createAPIToken(name: "t", role: "admin", hash: "dup", now: Fixture.t0)
        let entry = self.entry("x")
        await #expect(throws: StoreError.self) { try await store.createEnrollmentToken(hash: "dup", expiresAt: nil, uses: 1, now: Fixture.t0) { _ in entry } }
        await #expect(throws: StoreError.self) { try await store.revokeEnrollmentToken(id: "et_nobody", now: Fixture.t0, audit: entry) }
        await #expect(throws: StoreError.self) { try await store.createAPIToken(name: "t", role: "admin", hash: "dup", now: Fixture.t0) { _ in entry } }
        await #expect(throws: StoreError.self) { try await store.revokeAPIToken(id: "tk_nobody", now: Fixture.t0, audit: entry) }
        await #expect(throws: StoreError.self) { try await store.revokeAgent(id: "ag_nobody", now: Fixture.t0, audit: entry) }
        await #expect(throws: StoreError.self) { try await store.renameAgent(id: "ag_nobody", to: "n", audit: entry) }
        // Enrollment: unknown token, used-up token.
        await #expect(throws: StoreError.enrollmentTokenUnknown) {
            try await store.enrollAgent(tokenHash: "nope", publicKey: "k", facts: Fixture.facts(), now: Fixture.t0, remote: "r")
        }
        _ = try await store.enrollAgent(tokenHash: "dup", publicKey: "k1", facts: Fixture.facts(), now: Fixture.t0, remote: "r")
        await #expect(throws: StoreError.enrollmentTokenUsedUp) {
            try await store.enrollAgent(tokenHash: "dup", publicKey: "k2", facts: Fixture.facts(), now: Fixture.t0, remote: "r")
        }
        #expect(try await actions(store) == ["agents.enroll"])
    }

    @Test(arguments: StoreBackend.allCases) func aCancelIsAuditedWithItsStateChangeAndARefusedOneIsNot(backend: StoreBackend) async throws {
        let (store, agent) = try await Fixture.storeWithAgent(backend)
        defer { Fixture.close(store) }
        try await store.insertCommands([Fixture.command("c1", agent: agent.id)])
        let cancelled = try await store.transition(commandId: "c1", to: .cancelled, reason: "stop", now: Fixture.at(1), audit: entry("commands.cancel", ["c1"]))
        #expect(cancelled?.state == .cancelled)
        // Already terminal: the move is refused, and no second entry appears.
        #expect(try await store.transition(commandId: "c1", to: .cancelled, reason: "again", now: Fixture.at(2), audit: entry("commands.cancel", ["c1"])) == nil)
        await #expect(throws: StoreError.notFound("command 'nope'")) {
            try await store.transition(commandId: "nope", to: .cancelled, reason: "x", now: Fixture.at(2), audit: entry("commands.cancel", ["nope"]))
        }
        let log = try await Fixture.auditLog(store).filter { $0.action == "commands.cancel" }
        #expect(log.map(\.targets) == [["c1"]] && log.first?.tokenId == "tk_boss")
    }

    @Test(arguments: StoreBackend.allCases) func eachActionIsAuditedWithItsTokenIdInItsTransaction(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        defer { RegistryFixture.close(store) }
        let enrollToken = try await store.createEnrollmentToken(hash: "e", expiresAt: nil, uses: 5, now: Fixture.t0) { record in
            self.entry("enrollment-tokens.create", [record.id])
        }
        let agent = try await store.enrollAgent(tokenHash: "e", publicKey: "k1", facts: Fixture.facts("web"), now: Fixture.t0, remote: "10.0.0.9:4000")
        // Enrolling again with the same key (a retry) is not a new enrollment.
        _ = try await store.enrollAgent(tokenHash: "e", publicKey: "k1", facts: Fixture.facts("web"), now: Fixture.t0, remote: "10.0.0.9:4000")
        _ = try await store.renameAgent(id: agent.id, to: "frontend", audit: entry("agents.rename", [agent.id]))
        try await store.revokeAgent(id: agent.id, now: Fixture.t0, audit: entry("agents.revoke", [agent.id]))
        try await store.revokeEnrollmentToken(id: enrollToken.id, now: Fixture.t0, audit: entry("enrollment-tokens.revoke", [enrollToken.id]))
        let token = try await store.createAPIToken(name: "ci", role: "operator", hash: "t", now: Fixture.t0) { record in
            self.entry("tokens.create", [record.id])
        }
        try await store.revokeAPIToken(id: token.id, now: Fixture.t0, audit: entry("tokens.revoke", [token.id]))
        let saved = try await store.saveConfig(.defaults) { saved in self.entry("config.update", ["v\(saved.version)"]) }

        let log = try await store.auditLog(limit: 100).reversed().map { $0 }
        #expect(log.map(\.action) == [
            "enrollment-tokens.create", "agents.enroll", "agents.rename", "agents.revoke", "enrollment-tokens.revoke",
            "tokens.create", "tokens.revoke", "config.update",
        ])
        #expect(log[0].targets == [enrollToken.id])
        // The enrollment names the enrollment token by id, the agent, and where it came from.
        #expect(log[1].tokenId == enrollToken.id && log[1].targets == [agent.id] && log[1].remote == "10.0.0.9:4000" && log[1].actor == "agent")
        #expect(log[5].targets == [token.id])
        #expect(log[7].targets == ["v\(saved.version)"])
        #expect(log.filter { $0.action != "agents.enroll" }.allSatisfy { $0.tokenId == "tk_boss" })
    }
}
