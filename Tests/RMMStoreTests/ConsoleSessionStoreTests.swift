import Foundation
import RMMProtocol
import Testing
@testable import RMMStore

@Suite struct ConsoleSessionStoreTests {
    private static func session(_ id: String, token: String, created: Double = 0, lifetime: Double = 3600, idle: Double = 600) -> ConsoleSessionRecord {
        ConsoleSessionRecord(
            id: id, tokenId: token, csrfSecret: "csrf-\(id)", createdAt: Fixture.at(created),
            expiresAt: Fixture.at(created + lifetime), idleExpiresAt: Fixture.at(created + idle)
        )
    }

    @Test(arguments: StoreBackend.allCases) func lookupFindsALiveSessionWithItsToken(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        defer { RegistryFixture.close(store) }
        let token = try await store.createAPIToken(name: "alice", role: "operator", hash: "h1", now: Fixture.t0)
        let session = Self.session("cs_1", token: token.id)
        try await store.createConsoleSession(session, hash: "sh1")
        #expect(try await store.consoleSession(hash: "sh1", now: Fixture.at(1)) == ConsoleSessionLookup(session: session, token: token))
        #expect(try await store.consoleSession(hash: "other", now: Fixture.at(1)) == nil)
        await #expect(throws: StoreError.conflict("a console session with this id or secret already exists")) {
            try await store.createConsoleSession(Self.session("cs_2", token: token.id), hash: "sh1")
        }
    }

    @Test(arguments: StoreBackend.allCases) func idleAndAbsoluteExpiryEndASession(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        defer { RegistryFixture.close(store) }
        let token = try await store.createAPIToken(name: "alice", role: "viewer", hash: "h1", now: Fixture.t0)
        try await store.createConsoleSession(Self.session("cs_1", token: token.id, lifetime: 1000, idle: 600), hash: "sh1")
        #expect(try await store.consoleSession(hash: "sh1", now: Fixture.at(600)) == nil)
        // A touch moves the idle expiry, never past the absolute one.
        try await store.touchConsoleSession(id: "cs_1", idleExpiresAt: Fixture.at(5000))
        let touched = try #require(try await store.consoleSession(hash: "sh1", now: Fixture.at(999)))
        #expect(touched.session.idleExpiresAt == Fixture.at(1000))
        #expect(try await store.consoleSession(hash: "sh1", now: Fixture.at(1000)) == nil)

        try await store.createConsoleSession(Self.session("cs_2", token: token.id, created: 500), hash: "sh2")
        #expect(try await store.deleteExpiredConsoleSessions(now: Fixture.at(1000)) == 1)
        #expect(try await store.consoleSession(hash: "sh2", now: Fixture.at(1000)) != nil)
    }

    @Test(arguments: StoreBackend.allCases) func deletesAndRevocationEndSessions(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        defer { RegistryFixture.close(store) }
        let alice = try await store.createAPIToken(name: "alice", role: "admin", hash: "h1", now: Fixture.t0)
        let bob = try await store.createAPIToken(name: "bob", role: "viewer", hash: "h2", now: Fixture.t0)
        try await store.createConsoleSession(Self.session("cs_a1", token: alice.id), hash: "a1")
        try await store.createConsoleSession(Self.session("cs_a2", token: alice.id), hash: "a2")
        try await store.createConsoleSession(Self.session("cs_b1", token: bob.id), hash: "b1")
        try await store.createConsoleSession(Self.session("cs_b2", token: bob.id), hash: "b2")

        try await store.deleteConsoleSession(id: "cs_a1")
        try await store.deleteConsoleSession(id: "cs_a1")
        #expect(try await store.consoleSession(hash: "a1", now: Fixture.at(1)) == nil)
        #expect(try await store.deleteConsoleSessions(tokenId: bob.id) == 2)
        #expect(try await store.consoleSession(hash: "b1", now: Fixture.at(1)) == nil)

        // Revoking the token ends its remaining sessions at once.
        #expect(try await store.consoleSession(hash: "a2", now: Fixture.at(1)) != nil)
        try await store.revokeAPIToken(id: alice.id, now: Fixture.at(2))
        #expect(try await store.consoleSession(hash: "a2", now: Fixture.at(3)) == nil)
        #expect(try await store.deleteConsoleSessions(tokenId: alice.id) == 0)
    }
}
