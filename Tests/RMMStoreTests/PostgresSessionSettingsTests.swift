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
        #expect(try await Self.setting("idle_in_transaction_session_timeout", store) == "45s")
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

    @Test("a statement whose preparation timed out is prepared again on a fresh connection, not broken for good")
    func failedPreparationIsNotRemembered() async throws {
        let server = try await PostgresTestServer.shared()
        let location = try PostgresLocation(parsing: try await server.createDatabase(prefix: "prepare"))
        var limits = PostgresCallDeadline.Limits.standard
        limits.statementTimeout = .milliseconds(500)
        // One connection: without the fix, the failed preparation would stay on it.
        let store = try await PostgresStore.open(location, password: nil, logger: Logger(label: "test.prepare"), connections: 1, callLimits: limits)
        defer { store.close() }
        let holder = try await PostgresStore.open(location, password: nil, logger: Logger(label: "test.holder"))
        defer { holder.close() }
        let (lockedSignals, locked) = AsyncStream<Void>.makeStream()
        let (releaseSignals, release) = AsyncStream<Void>.makeStream()
        // Another session holds the commands table exclusively: the first Parse naming it waits.
        let holding = Task {
            try await holder.write(unbounded: true) { connection in
                _ = try await connection.query("LOCK TABLE commands IN ACCESS EXCLUSIVE MODE", logger: holder.logger)
                locked.yield()
                var waiting = releaseSignals.makeAsyncIterator()
                _ = await waiting.next()
            }
        }
        var lockedWait = lockedSignals.makeAsyncIterator()
        _ = await lockedWait.next()
        await #expect(throws: (any Error).self) { _ = try await store.undeliveredCommands(agentId: "ag_1") }
        release.yield()
        try await holding.value
        #expect(try await store.undeliveredCommands(agentId: "ag_1").isEmpty)
    }
}
