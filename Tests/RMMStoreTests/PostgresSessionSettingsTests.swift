import Foundation
import Logging
import PostgresNIO
import RMMTestSupport
import Testing
@testable import RMMStore

/// The settings a node's pooled connections run with: generic plans for the prepared statements,
/// and a statement timeout that migrations lift for themselves and give back.
@Suite("PostgreSQL pooled connection settings")
struct PostgresSessionSettingsTests {
    static func setting(_ name: String, _ store: PostgresStore, unbounded: Bool = false) async throws -> String {
        try await store.read(unbounded: unbounded) { connection in
            var value = ""
            for try await shown in try await connection.query("SELECT current_setting(\(name))", logger: store.logger).decode(String.self) { value = shown }
            return value
        }
    }

    @Test("pooled statements time out at 25 s with generic plans; an unbounded call has no timeout and restores it")
    func pooledSettings() async throws {
        let server = try await PostgresTestServer.shared()
        let location = try PostgresLocation(parsing: try await server.createDatabase(prefix: "settings"))
        // One connection, so the unbounded call and the calls after it share it.
        let store = try await PostgresStore.open(location, password: nil, logger: Logger(label: "test.settings"), connections: 1)
        defer { store.close() }
        #expect(try await Self.setting("statement_timeout", store) == "25s")
        #expect(try await Self.setting("plan_cache_mode", store) == "force_generic_plan")
        #expect(try await Self.setting("statement_timeout", store, unbounded: true) == "0")
        #expect(try await Self.setting("statement_timeout", store) == "25s")
        let inWrite = try await store.write(unbounded: true) { connection in
            var value = ""
            for try await shown in try await connection.query("SELECT current_setting('statement_timeout')", logger: store.logger).decode(String.self) { value = shown }
            return value
        }
        #expect(inWrite == "0")
        #expect(try await Self.setting("statement_timeout", store) == "25s")
    }
}
