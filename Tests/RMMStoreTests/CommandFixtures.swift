import Foundation
import Logging
import PostgresNIO
import RMMProtocol
import Testing

@testable import RMMStore

/// Fixtures of the command roles' tests, on either backend.
///
/// Agents on PostgreSQL are inserted with plain SQL until `PostgresStore` enrolls them
/// (`TokenStore`/`AgentStore`); then `agent(_:key:name:)` can enroll on both backends.
extension Fixture {
    /// A store of `backend` with one agent (key "key-1", name "web-1").
    static func storeWithAgent(_ backend: StoreBackend) async throws -> (any Store, AgentRecord) {
        let store = try await backend.makeStore()
        return (store, try await agent(store, key: "key-1", name: "web-1"))
    }

    /// A new agent in `store`, enrolled through the token "tok" on SQLite.
    static func agent(_ store: any Store, key: String, name: String) async throws -> AgentRecord {
        guard let postgres = store as? PostgresStore else {
            if try await store.enrollmentTokens().isEmpty {
                _ = try await store.createEnrollmentToken(hash: "tok", expiresAt: nil, uses: 10, now: t0)
            }
            return try await store.enrollAgent(tokenHash: "tok", publicKey: key, facts: facts(name), now: t0)
        }
        let facts = facts(name)
        let agent = AgentRecord(
            id: RecordId.random(prefix: "ag_"), name: facts.name, publicKey: key, hostname: facts.hostname, os: facts.os,
            version: facts.version, enrolledAt: t0
        )
        try await postgres.write { connection in
            _ = try await connection.query("""
                INSERT INTO agents (id, name, name_key, public_key, hostname, os, version, enrolled_at)
                VALUES (\(agent.id), \(agent.name), \(agent.name.lowercased()), \(agent.publicKey), \(agent.hostname), \(agent.os),
                        \(agent.version), \(agent.enrolledAt.timeIntervalSinceReferenceDate))
                """, logger: postgres.logger)
        }
        return agent
    }

    /// The audit log, newest first (read with SQL on PostgreSQL until `PostgresStore` implements `AuditStore`).
    static func auditLog(_ store: any Store) async throws -> [AuditEntry] {
        guard let postgres = store as? PostgresStore else { return try await store.auditLog(limit: 1000) }
        return try await postgres.read { connection in
            var entries: [AuditEntry] = []
            let rows = try await connection.query(
                "SELECT id, at, actor, token_id, role, action, targets, detail, remote FROM audit_log ORDER BY id DESC", logger: postgres.logger
            )
            for try await (id, at, actor, tokenId, role, action, targets, detail, remote) in rows.decode(
                (Int64, Double, String, String?, String, String, String, String, String).self
            ) {
                entries.append(AuditEntry(
                    id: id, at: Date(timeIntervalSinceReferenceDate: at), actor: actor, tokenId: tokenId, role: role, action: action,
                    targets: try JSONDecoder().decode([String].self, from: Data(targets.utf8)), detail: detail, remote: remote
                ))
            }
            return entries
        }
    }

    /// Waits until every change committed so far is below the change horizon, so that reads
    /// "after a version" see them (PostgreSQL: transactions of other tests on the shared server
    /// hold the horizon back while they run). Nothing to wait for on SQLite.
    static func settle(_ store: any Store) async throws {
        guard let postgres = store as? PostgresStore else { return }
        try await postgres.read { connection in
            var next = 0
            for try await value in try await connection.query(
                "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint", logger: postgres.logger
            ).decode(Int.self) { next = value }
            let deadline = ContinuousClock.now + .seconds(30)
            while ContinuousClock.now < deadline {
                var horizon = 0
                for try await value in try await connection.query(
                    "SELECT \(unescaped: PostgresSchema.visibleHorizon)", logger: postgres.logger
                ).decode(Int.self) { horizon = value }
                if horizon >= next { return }
                try await Task.sleep(for: .milliseconds(2))
            }
            Issue.record("the change horizon stayed below \(next) for 30 s")
        }
    }

    /// Closes a PostgreSQL store (SQLite's closes when released).
    static func close(_ store: any Store) {
        (store as? PostgresStore)?.close()
    }
}
