import Foundation
import PostgresNIO
import RMMProtocol
import Testing

@testable import RMMStore

/// Helpers of the registry roles' tests (tokens, agents, liveness, settings, audit, verdicts) on either backend.
enum RegistryFixture {
    /// A new store of `backend` with one enrollment token (hash "tok", `uses` uses) and one enrolled agent (key "key-1").
    static func storeWithAgent(_ backend: StoreBackend, uses: Int = 10) async throws -> (any Store, AgentRecord) {
        let store = try await backend.makeStore()
        return (store, try await Fixture.enrolledAgent(store, uses: uses))
    }

    /// What `body` returned or threw.
    static func outcome<T: Sendable>(_ body: @Sendable () async throws -> T) async -> Result<T, any Error> {
        do {
            return .success(try await body())
        } catch {
            return .failure(error)
        }
    }

    /// Closes `store`'s connections if it is a PostgreSQL store (an SQLite one in memory just goes).
    static func close(_ store: any Store) {
        (store as? PostgresStore)?.close()
    }

    /// Runs `statements` in one transaction of a PostgreSQL store: what the store's own statements never do.
    static func execute(_ statements: [String], in store: PostgresStore) async throws {
        try await store.write { connection in
            for sql in statements {
                _ = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: store.logger)
            }
        }
    }

    /// Creates command `id` for `agent`, queued or (with `sent`) sent: through the command roles
    /// on SQLite, by SQL on PostgreSQL (whose command roles are not this suite's).
    static func command(_ id: String, agent: String, sent: Bool, in store: any Store) async throws {
        guard let postgres = store as? PostgresStore else {
            try await store.insertCommands([Fixture.command(id, agent: agent)])
            if sent { _ = try await store.transition(commandId: id, to: .sent, reason: nil, now: Fixture.t0) }
            return
        }
        let now = Fixture.t0.timeIntervalSinceReferenceDate
        let states = sent ? ["queued", "sent"] : ["queued"]
        try await execute([
            """
            INSERT INTO commands (id, agent_id, batch_id, kind, text, timeout_seconds, created_at, expires_at, state, updated_at, created_by, version)
            VALUES ('\(id)', '\(agent)', 'b1', 'shell', 'echo', 30, \(now), \(now + 600), '\(states.last ?? "queued")', \(now), 'ops', 1)
            """,
            "INSERT INTO command_events (command_id, state, occurred_at) VALUES " + states.map { "('\(id)', '\($0)', \(now))" }.joined(separator: ", "),
        ], in: postgres)
    }

    /// The reasons in command `id`'s history, oldest first.
    static func historyReasons(_ id: String, in store: any Store) async throws -> [String?] {
        if let postgres = store as? PostgresStore {
            return try await postgres.read { connection in
                var reasons: [String?] = []
                let rows = try await connection.query("SELECT reason FROM command_events WHERE command_id = \(id) ORDER BY id", logger: postgres.logger)
                for try await reason in rows.decode(String?.self) { reasons.append(reason) }
                return reasons
            }
        }
        return try await store.events(commandId: id).map(\.reason)
    }
}
