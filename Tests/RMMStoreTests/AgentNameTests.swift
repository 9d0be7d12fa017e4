import Foundation
import GRDB
import RMMProtocol
import Testing

@testable import RMMStore

/// Agent names: the pure rules, unique names at enrollment, renames, and the v7 migration that
/// renames existing duplicates.
@Suite struct AgentNameTests {
    @Test func validNamesAndWhyOthersAreNot() {
        #expect(AgentName.problem("web-1") == nil)
        #expect(AgentName.problem("Büro Drucker") == nil)
        #expect(AgentName.problem(String(repeating: "x", count: 64)) == nil)
        #expect(AgentName.problem("")?.contains("empty") == true)
        #expect(AgentName.problem(String(repeating: "x", count: 65))?.contains("at most 64") == true)
        #expect(AgentName.problem("a\u{0}b")?.contains("NUL") == true)
        #expect(AgentName.problem("a\nb")?.contains("control") == true)
        #expect(AgentName.problem("a\u{1b}[31m")?.contains("control") == true)
        #expect(AgentName.problem(" web")?.contains("spaces") == true)
        #expect(AgentName.problem("ag_0123")?.contains("ag_") == true)
    }

    @Test func namesCompareAfterCanonicalCompositionAndRefuseInvisibleCharacters() {
        #expect(AgentName.key("Caf\u{E9}") == AgentName.key("CAFE\u{301}"))
        for invisible in ["web\u{202E}1", "web\u{200B}", "web\u{2028}x", "web\u{2029}x"] {
            #expect(AgentName.problem(invisible) != nil, "\(invisible.unicodeScalars.map { String($0.value, radix: 16) })")
        }
    }

    @Test func proposedNamesAreCleanedAndMadeUnique() {
        #expect(AgentName.sanitized(proposed: "web", hostname: "h") == "web")
        #expect(AgentName.sanitized(proposed: "", hostname: "db-7") == "db-7")
        #expect(AgentName.sanitized(proposed: "we\u{1b}b\n", hostname: "h") == "web")
        #expect(AgentName.sanitized(proposed: "\u{0}", hostname: "\u{7}") == "agent")
        #expect(AgentName.sanitized(proposed: "ag_123", hostname: "h") == "agent-123")
        #expect(AgentName.sanitized(proposed: String(repeating: "y", count: 500), hostname: "h").count == 64)
        let taken: Set<String> = ["web", "web-2"]
        #expect(AgentName.unique("web") { taken.contains(AgentName.key($0)) } == "web-3")
        #expect(AgentName.unique("WEB") { taken.contains(AgentName.key($0)) } == "WEB-3")
        #expect(AgentName.unique("free") { taken.contains(AgentName.key($0)) } == "free")
        let long = String(repeating: "z", count: 64)
        let made = AgentName.unique(long) { $0 == long }
        #expect(made.count == 64 && made.hasSuffix("-2"))
    }

    @Test func duplicatesKeepTheFirstAndSuffixTheOthersFreeOfEveryName() {
        let renamed = AgentName.deduplicated([(id: "a", name: "web"), (id: "b", name: "Web"), (id: "c", name: "web"), (id: "d", name: "web-2"), (id: "e", name: "db")])
        #expect(renamed.map(\.id) == ["b", "c"])
        #expect(renamed.map(\.name) == ["Web-3", "web-4"])
    }

    @Test(arguments: StoreBackend.allCases) func enrollmentTakesAProposedNameOnlyIfNoOtherAgentHoldsIt(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        defer { RegistryFixture.close(store) }
        _ = try await store.createEnrollmentToken(hash: "h", expiresAt: nil, uses: 10, now: Fixture.t0)
        let first = try await store.enrollAgent(tokenHash: "h", publicKey: "k1", facts: Fixture.facts("web"), now: Fixture.t0)
        let second = try await store.enrollAgent(tokenHash: "h", publicKey: "k2", facts: Fixture.facts("WEB"), now: Fixture.t0)
        let third = try await store.enrollAgent(tokenHash: "h", publicKey: "k3", facts: Fixture.facts("web"), now: Fixture.t0)
        #expect([first.name, second.name, third.name] == ["web", "WEB-2", "web-3"])
        // The same key again is the same agent, name and all.
        #expect(try await store.enrollAgent(tokenHash: "h", publicKey: "k2", facts: Fixture.facts("other"), now: Fixture.t0) == second)
    }

    @Test(arguments: StoreBackend.allCases) func renameRefusesTakenAndInvalidNamesAndAuditsOnlyWhatHappened(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        defer { RegistryFixture.close(store) }
        _ = try await store.createEnrollmentToken(hash: "h", expiresAt: nil, uses: 10, now: Fixture.t0)
        let web = try await store.enrollAgent(tokenHash: "h", publicKey: "k1", facts: Fixture.facts("web"), now: Fixture.t0)
        let db = try await store.enrollAgent(tokenHash: "h", publicKey: "k2", facts: Fixture.facts("db"), now: Fixture.t0)
        let entry = AuditEntry(at: Fixture.t0, actor: "ops", tokenId: "tk_1", role: "operator", action: "agents.rename", targets: [web.id], detail: "x", remote: "r")
        let before = try await store.auditLog(limit: 100).count

        await #expect(throws: StoreError.conflict("agent name 'DB' is taken by agent \(db.id)")) {
            try await store.renameAgent(id: web.id, to: "DB", audit: entry)
        }
        await #expect(throws: StoreError.self) { try await store.renameAgent(id: web.id, to: "", audit: entry) }
        await #expect(throws: StoreError.self) { try await store.renameAgent(id: web.id, to: "a\u{0}b", audit: entry) }
        await #expect(throws: StoreError.self) { try await store.renameAgent(id: web.id, to: String(repeating: "x", count: 65), audit: entry) }
        await #expect(throws: StoreError.notFound("agent 'ag_nobody'")) { try await store.renameAgent(id: "ag_nobody", to: "free", audit: entry) }
        #expect(try await store.auditLog(limit: 100).count == before)

        let renamed = try await store.renameAgent(id: web.id, to: "frontend", audit: entry)
        #expect(renamed.name == "frontend")
        #expect(try await store.agent(id: web.id)?.name == "frontend")
        #expect(try await store.resolveAgent("FRONTEND")?.id == web.id)
        #expect(try await store.resolveAgent("web") == nil)
        // Its own name in another case is not "taken".
        #expect(try await store.renameAgent(id: web.id, to: "Frontend", audit: nil).name == "Frontend")
        // The freed name can be taken by another agent.
        #expect(try await store.renameAgent(id: db.id, to: "web", audit: nil).name == "web")
        let log = try await store.auditLog(limit: 100)
        #expect(log.count == before + 1)
        #expect(log.first?.action == "agents.rename" && log.first?.tokenId == "tk_1")
        // A connect never changes it back.
        _ = try await store.recordConnect(agentId: web.id, facts: Fixture.facts("web"), now: Fixture.at(1))
        #expect(try await store.agent(id: web.id)?.name == "Frontend")
    }

    @Test func migrationRenamesExistingDuplicatesAndIndexesNamesCaseInsensitively() async throws {
        let path = Fixture.temporaryPath()
        defer { Fixture.removeDatabase(at: path) }
        let queue = try DatabaseQueue(path: path)
        try SQLiteStore.migrator.migrate(queue, upTo: "v6-pending-indexes-without-in-list")
        try await queue.write { db in
            let rows: [(String, String, Double)] = [("ag_a", "web", 1), ("ag_b", "Web", 2), ("ag_c", "web", 3), ("ag_d", "web-2", 4), ("ag_e", "ag_a", 5)]
            for (id, name, at) in rows {
                try db.execute(
                    sql: "INSERT INTO agents (id, name, public_key, hostname, os, version, enrolled_at) VALUES (?, ?, ?, 'h', 'linux', '1', ?)",
                    arguments: [id, name, "key-" + id, at]
                )
            }
        }
        try queue.close()

        let store = try SQLiteStore(path: path)
        let names = Dictionary(uniqueKeysWithValues: try await store.agents().map { ($0.id, $0.name) })
        #expect(names == ["ag_a": "web", "ag_b": "Web-3", "ag_c": "web-4", "ag_d": "web-2", "ag_e": "ag_a"])
        // A target that could mean two agents (one's id, another's name from before the rules) is refused, listing both.
        await #expect {
            try await store.resolveAgent("ag_a")
        } throws: { error in
            "\(error)".contains("matches 2 agents") && "\(error)".contains("ag_a") && "\(error)".contains("ag_e")
        }
        // In a list, only that target is refused; the others still resolve.
        let resolved = try await store.resolveAgents(["ag_b", "ag_a", "web-2"])
        #expect(try resolved[0].get()?.id == "ag_b" && (try resolved[2].get()?.id) == "ag_d")
        guard case .failure(.conflict(let why)) = resolved[1] else { Issue.record("expected a conflict, got \(resolved[1])"); return }
        #expect(why.contains("matches 2 agents"))
        // The index holds: no second "WEB" can be written, even bypassing the store's checks.
        #expect(throws: (any Error).self) {
            try store.writer.write { db in try db.execute(sql: "UPDATE agents SET name = 'WEB', name_key = 'web' WHERE id = 'ag_d'") }
        }
    }
}
