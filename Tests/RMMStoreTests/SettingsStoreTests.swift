import Foundation
import GRDB
import RMMProtocol
import Testing
@testable import RMMStore

@Suite struct SettingsStoreTests {
    @Test(arguments: StoreBackend.allCases) func apiTokensCreateLookupAndRevoke(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        defer { RegistryFixture.close(store) }
        let admin = try await store.createAPIToken(name: "alice", role: "admin", hash: "h1", now: Fixture.t0)
        let viewer = try await store.createAPIToken(name: "bob", role: "viewer", hash: "h2", now: Fixture.at(1))
        #expect(admin.id.hasPrefix("tk_") && admin.id != viewer.id)
        #expect(try await store.apiToken(hash: "h1") == admin)
        #expect(try await store.apiToken(hash: "zz") == nil)
        await #expect(throws: StoreError.conflict("an API token with this secret already exists")) {
            try await store.createAPIToken(name: "eve", role: "admin", hash: "h1", now: Fixture.t0)
        }

        try await store.revokeAPIToken(id: admin.id, now: Fixture.at(2))
        #expect(try await store.apiToken(hash: "h1") == nil)
        #expect(try await store.apiToken(hash: "h2") == viewer)
        var revoked = admin
        revoked.revokedAt = Fixture.at(2)
        #expect(try await store.apiTokens() == [revoked, viewer])
        await #expect(throws: StoreError.notFound("API token 'tk_x'")) { try await store.revokeAPIToken(id: "tk_x", now: Fixture.t0) }
    }

    @Test(arguments: StoreBackend.allCases) func namedSettingSavesReplacesAndAudits(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        defer { RegistryFixture.close(store) }
        #expect(try await store.setting("console_sites") == nil)
        let audit = AuditEntry(at: Fixture.t0, actor: "alice", role: "admin", action: "console.sites", targets: [], detail: "saved", remote: "127.0.0.1")
        try await store.saveSetting("console_sites", value: "[1]", audit: audit)
        try await store.saveSetting("console_sites", value: "[2]", audit: nil)
        #expect(try await store.setting("console_sites") == "[2]")
        #expect(try await store.config() == .defaults, "the fleet config is another setting")
        #expect(try await store.auditLog(limit: 10).map(\.action) == ["console.sites"])
    }

    @Test(arguments: StoreBackend.allCases) func configStartsAtDefaultsAndVersionsEverySave(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        defer { RegistryFixture.close(store) }
        #expect(try await store.config() == .defaults)
        var change = AgentConfig.defaults
        change.heartbeatInterval = 5
        change.labels = ["site": "paris"]
        let first = try await store.saveConfig(change)
        #expect(first.version == AgentConfig.defaults.version + 1)
        #expect(first.heartbeatInterval == 5 && first.labels == ["site": "paris"])
        #expect(try await store.config() == first)
        let second = try await store.saveConfig(first)
        #expect(second.version == first.version + 1)
        #expect(try await store.config() == second)
        // A version above the stored one is a floor (moving past what agents applied from a newer
        // database); one below is never gone back to.
        change.version = 99
        #expect(try await store.saveConfig(change).version == 100)
        change.version = 1
        #expect(try await store.saveConfig(change).version == 101)
    }

    @Test func fileStoreIsDurableAndVisibleToASecondOpen() async throws {
        let path = Fixture.temporaryPath()
        defer { Fixture.removeDatabase(at: path) }
        let metrics = HostMetrics(cpuPercent: 1.5, uptimeSeconds: 99)
        let now = Date()  // an arbitrary, sub-microsecond date must round-trip exactly
        let (agent, finished, config): (AgentRecord, CommandRecord, AgentConfig)
        do {
            let store = try SQLiteStore(path: path)
            _ = try await store.createEnrollmentToken(hash: "tok", expiresAt: now.addingTimeInterval(3600), uses: 3, now: now)
            let enrolled = try await store.enrollAgent(tokenHash: "tok", publicKey: "key", facts: Fixture.facts(), now: now)
            agent = try await store.recordConnect(agentId: enrolled.id, facts: Fixture.facts(), now: now)
            try await store.saveLiveness(agentId: enrolled.id, AgentLiveness(metrics: metrics))
            var cmd = Fixture.command("c1", agent: enrolled.id)
            cmd.createdAt = now
            try await store.insertCommands([cmd])
            _ = try await store.transition(commandId: "c1", to: .sent, reason: nil, now: now)
            _ = try await store.appendOutput(commandId: "c1", stream: .stdout, offset: 0, data: Data("out".utf8), cap: 100)
            finished = try #require(try await store.finish(
                commandId: "c1", outcome: CommandOutcome(state: .succeeded, exitCode: 0, stdout: Data("output".utf8)), now: now
            ))
            _ = try await store.createAPIToken(name: "ops", role: "admin", hash: "api", now: now)
            config = try await store.saveConfig(.defaults)
        }
        let reopened = try SQLiteStore(path: path)
        var expectedAgent = agent
        expectedAgent.metrics = metrics
        #expect(try await reopened.agent(id: agent.id) == expectedAgent)
        #expect(try await reopened.agent(id: agent.id)?.enrolledAt == now)
        #expect(try await reopened.command(id: "c1") == finished)
        #expect(try await reopened.output(commandId: "c1", stream: .stdout) == Data("output".utf8))
        #expect(try await reopened.events(commandId: "c1").map(\.state) == [.queued, .sent, .succeeded])
        #expect(try await reopened.apiToken(hash: "api")?.name == "ops")
        #expect(try await reopened.config() == config)
        #expect(try await reopened.enrollmentTokens().first?.usesLeft == 2)
        // The change counter continues where it stopped, so batch versions never go backwards.
        try await reopened.insertCommands([Fixture.command("c2", agent: agent.id)])
        #expect(try await reopened.batchChanges(batchId: "b1", after: finished.version).commands.map(\.id) == ["c2"])
    }

    @Test func fileStoreUsesWALWithFullSync() async throws {
        let path = Fixture.temporaryPath()
        defer { Fixture.removeDatabase(at: path) }
        let store = try SQLiteStore(path: path)
        let (mode, sync, foreignKeys) = try await store.writer.write { db in
            (
                try String.fetchOne(db, sql: "PRAGMA journal_mode"),
                try Int.fetchOne(db, sql: "PRAGMA synchronous"),
                try Int.fetchOne(db, sql: "PRAGMA foreign_keys")
            )
        }
        #expect(mode == "wal")
        #expect(sync == 2)  // FULL
        #expect(foreignKeys == 1)
        // Savepoint journals in memory (not a pwrite per page), and the writer's larger page cache.
        let (tempStore, cacheSize, checkpointPages) = try await store.writer.write { db in
            (try Int.fetchOne(db, sql: "PRAGMA temp_store"), try Int.fetchOne(db, sql: "PRAGMA cache_size"),
             try Int.fetchOne(db, sql: "PRAGMA wal_autocheckpoint"))
        }
        #expect(tempStore == 2)  // MEMORY
        #expect(cacheSize == -32768)
        #expect(checkpointPages == 8000)
        let readSync = try await store.writer.read { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") }
        #expect(readSync == 2)
    }
}

@Suite("Audit log")
struct AuditStoreTests {
    @Test(arguments: StoreBackend.allCases) func appendOnlyAndNewestFirst(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        defer { RegistryFixture.close(store) }
        let t = Date(timeIntervalSince1970: 1_750_000_000)
        try await store.appendAudit(AuditEntry(at: t, actor: "ops", role: "operator", action: "commands.run", targets: ["ag_1", "ag_2"], detail: "batch b_1", remote: "127.0.0.1:5"))
        try await store.appendAudit(AuditEntry(at: t.addingTimeInterval(1), actor: "root", role: "admin", action: "agents.revoke", targets: ["ag_2"], detail: "", remote: "127.0.0.1:6"))
        let entries = try await store.auditLog(limit: 10)
        #expect(entries.map(\.action) == ["agents.revoke", "commands.run"])
        #expect(entries.last?.targets == ["ag_1", "ag_2"])
        #expect(entries.last?.at == t)
        #expect(try await store.auditLog(limit: 1).map(\.action) == ["agents.revoke"])
        // The database itself refuses to change or delete an entry.
        for statement in ["UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log"] {
            await #expect(throws: (any Error).self, "\(statement)") {
                try await Self.execute(statement, in: store)
            }
        }
        #expect(try await store.auditLog(limit: 10) == entries)
    }

    /// Runs `sql` in a write transaction of either backend, bypassing the store's methods.
    private static func execute(_ sql: String, in store: any Store) async throws {
        if let postgres = store as? PostgresStore {
            try await RegistryFixture.execute([sql], in: postgres)
        } else if let sqlite = store as? SQLiteStore {
            // SQLite has no TRUNCATE; its DELETE stands for it.
            let statement = sql.hasPrefix("TRUNCATE") ? "DELETE FROM audit_log" : sql
            try await sqlite.write { db in try db.execute(sql: statement) }
        }
    }
}
