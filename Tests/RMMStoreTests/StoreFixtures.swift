import Foundation
import RMMProtocol
import Logging
import RMMStore
import RMMTestSupport

/// Shared values for store tests. Dates carry sub-second parts on purpose: they must round-trip exactly.
enum Fixture {
    static let t0 = Date(timeIntervalSince1970: 1_750_000_000.123)

    static func at(_ seconds: Double) -> Date { t0.addingTimeInterval(seconds) }

    static func facts(_ name: String = "web-1", hostname: String = "web-1.example") -> AgentFacts {
        AgentFacts(name: name, hostname: hostname, os: "linux", version: "1.0.0")
    }

    /// A store with one enrollment token (hash "tok", `uses` uses) and one enrolled agent (key "key-1").
    static func storeWithAgent(uses: Int = 10) async throws -> (SQLiteStore, AgentRecord) {
        let store = try SQLiteStore.inMemory()
        return (store, try await enrolledAgent(store, uses: uses))
    }

    /// Enrolls one agent (key "key-1") in `store` through a new token "tok" of `uses` uses.
    static func enrolledAgent(_ store: any Store, uses: Int = 10) async throws -> AgentRecord {
        _ = try await store.createEnrollmentToken(hash: "tok", expiresAt: nil, uses: uses, now: t0)
        return try await store.enrollAgent(tokenHash: "tok", publicKey: "key-1", facts: facts(), now: t0)
    }

    static func command(
        _ id: String, agent: String, batch: String = "b1", created: Double = 0, expires: Double = 600
    ) -> CommandRecord {
        CommandRecord(
            id: id, agentId: agent, batchId: batch, kind: .shell, text: "echo \(id)", interpreter: nil,
            timeoutSeconds: 30, createdAt: at(created), expiresAt: at(expires), updatedAt: at(created), createdBy: "ops"
        )
    }

    /// A fresh path in the temporary directory for a file-backed store.
    static func temporaryPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("rmmstore-\(UUID().uuidString).sqlite").path
    }

    static func removeDatabase(at path: String) {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }
}

/// The backends every store contract test runs against: a test written once takes
/// `@Test(arguments: StoreBackend.allCases)` and opens its store with `makeStore()`.
enum StoreBackend: String, CaseIterable, Sendable, CustomStringConvertible {
    case sqlite
    case postgres

    var description: String { rawValue }

    /// A new, empty store: SQLite in memory, or a new database on the test process's PostgreSQL
    /// server (`PostgresTestServer`: skipped without PostgreSQL, failed under GURURMM_REQUIRE_TOOLS=1).
    func makeStore() async throws -> any Store {
        switch self {
        case .sqlite:
            return try SQLiteStore.inMemory()
        case .postgres:
            return try await Self.postgresStore()
        }
    }

    /// A new PostgreSQL store in a database of its own on the shared test server.
    static func postgresStore() async throws -> PostgresStore {
        let server = try await PostgresTestServer.shared()
        let url = try await server.createDatabase(prefix: "store")
        return try await PostgresStore.open(try PostgresLocation(parsing: url), password: nil, logger: Logger(label: "test.store"))
    }
}
