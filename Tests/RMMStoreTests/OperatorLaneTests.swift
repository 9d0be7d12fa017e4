import Foundation
import Logging
import PostgresNIO
@testable import RMMStore
import RMMTestSupport
import Synchronization
import Testing

/// `PostgresStore`'s two pools: calls on the operator's lane (`StoreLane.operator`) never wait in
/// the agents' pool's queue, on a real PostgreSQL.
@Suite("PostgreSQL store: the operator's lane", .serialized, .timeLimit(.minutes(1)))
struct OperatorLaneTests {
    let logger = Logger(label: "test.operator-lane")

    /// How many of a test's calls finished.
    final class Finished: Sendable {
        let count = Atomic(0)
    }
    /// The advisory lock the agents' calls wait for.
    static let lockKey = 4_242

    func open(_ prefix: String) async throws -> (PostgresTestServer, PostgresLocation, PostgresStore) {
        let server = try await PostgresTestServer.shared()
        let location = try PostgresLocation(parsing: try await server.createDatabase(prefix: prefix))
        let store = try await PostgresStore.open(location, password: nil, logger: logger, connections: 2)
        return (server, location, store)
    }

    /// How many of the store's backends of `lane` (by `application_name`) wait for a lock.
    static func waitingForLock(_ server: PostgresTestServer, _ location: PostgresLocation, lane: String) async throws -> Int {
        let count = try await server.psql("""
            SELECT count(*) FROM pg_stat_activity
            WHERE datname = '\(location.database)' AND application_name = '\(lane)' AND wait_event_type = 'Lock'
            """)
        return Int(count.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    /// The store's backends of `lane`, by `application_name`.
    static func backends(_ server: PostgresTestServer, _ location: PostgresLocation, lane: String) async throws -> Int {
        let count = try await server.psql("SELECT count(*) FROM pg_stat_activity WHERE datname = '\(location.database)' AND application_name = '\(lane)'")
        return Int(count.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    @Test("with both agent connections blocked and an agents' call queued, operator reads, writes and role calls answer; the agents' calls finish once released")
    func operatorAnswersWhileAgentsWait() async throws {
        let (server, location, store) = try await open("operator_lane")
        defer { store.close() }
        let logger = self.logger
        let holder = try await PostgresDedicatedConnection.connect(location, password: nil, logger: logger)
        do {
            try await operatorAnswers(server, location, store, holder: holder)
        } catch {
            // Closing the holder's connection frees the lock, and so the agents' calls.
            try? await holder.close()
            throw error
        }
        try await holder.close()
    }

    /// The body of `operatorAnswersWhileAgentsWait`, with `holder` a connection of its own that takes the lock.
    func operatorAnswers(_ server: PostgresTestServer, _ location: PostgresLocation, _ store: PostgresStore, holder: PostgresConnection) async throws {
        let logger = self.logger
        _ = try await holder.query("SELECT pg_advisory_lock(\(Self.lockKey))", logger: logger)

        // Two agents' calls take the lane's two connections and wait for the lock; a third waits for a connection.
        let finished = Finished()
        let blocked = (0..<2).map { _ in
            Task {
                try await store.read { connection in
                    for try await _ in try await connection.query("SELECT pg_advisory_xact_lock_shared(\(Self.lockKey))", logger: logger) {}
                }
                finished.count.add(1, ordering: .relaxed)
            }
        }
        try await waitUntil("both agent connections wait for the lock") {
            try await Self.waitingForLock(server, location, lane: "gururmm agents") == 2
        }
        let queued = Task {
            let value = try await store.read { connection in
                for try await value in try await connection.query("SELECT 1", logger: logger).decode(Int.self) { return value }
                return 0
            }
            finished.count.add(1, ordering: .relaxed)
            return value
        }

        // The operator's lane answers meanwhile: a read, a write, and a role method.
        let (read, written, counts) = try await StoreLane.$current.withValue(.operator) {
            let read = try await store.read { connection in
                for try await value in try await connection.query("SELECT 7", logger: logger).decode(Int.self) { return value }
                return 0
            }
            let written = try await store.write { connection in
                for try await value in try await connection.query("SELECT 8", logger: logger).decode(Int.self) { return value }
                return 0
            }
            return (read, written, try await store.agentCounts())
        }
        #expect(read == 7 && written == 8)
        #expect(counts.enrolled == 0)
        #expect(finished.count.load(ordering: .relaxed) == 0, "no agents' call finished while the operator's answered")
        #expect(try await Self.waitingForLock(server, location, lane: "gururmm agents") == 2, "both agent connections are still blocked")

        _ = try await holder.query("SELECT pg_advisory_unlock(\(Self.lockKey))", logger: logger)
        for call in blocked { try await call.value }
        #expect(try await queued.value == 1)
        #expect(finished.count.load(ordering: .relaxed) == 3)
    }

    @Test("the operator's pool connects with the agents' pool's settings, and close() ends both pools")
    func operatorPoolSettingsAndClose() async throws {
        let (server, location, store) = try await open("operator_lane_settings")
        let logger = self.logger
        let show: @Sendable () async throws -> [String] = {
            try await store.read { connection in
                var values: [String] = []
                for setting in ["plan_cache_mode", "statement_timeout", "application_name"] {
                    for try await value in try await connection.query(PostgresQuery(unsafeSQL: "SHOW \(setting)"), logger: logger).decode(String.self) {
                        values.append(value)
                    }
                }
                return values
            }
        }
        #expect(try await show() == ["force_generic_plan", "25s", "gururmm agents"])
        #expect(try await StoreLane.$current.withValue(.operator) { try await show() } == ["force_generic_plan", "25s", "gururmm operator"])
        store.close()
        try await waitUntil("both pools' connections are closed") {
            let agents = try await Self.backends(server, location, lane: "gururmm agents")
            let operators = try await Self.backends(server, location, lane: "gururmm operator")
            return agents == 0 && operators == 0
        }
    }
}
