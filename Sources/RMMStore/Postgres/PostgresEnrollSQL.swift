import Foundation
import PostgresNIO
import RMMProtocol

/// The usual enrollment, a new key proposing a free name, as one prepared statement that commits
/// alone: it locks the token's row only if the token admits an enrollment now (PostgreSQL checks
/// that again on the row's latest version when it had to wait for the lock), inserts the agent
/// unless its key or name is held, and spends a use and appends the audit entry only if the agent
/// went in. One row (the token's id) comes back when the agent was enrolled, none otherwise: the
/// token refused, or the key or name is held, and the careful path says which.
///
/// A use is spent only with an agent inserted (the update and the audit entry read the insert's
/// output), and never overspent (the lock makes the token's enrollments take turns, and each sees
/// what the one before it left). The token's row is locked before the agent is inserted, in this
/// statement as in the careful path, so two enrollments never wait on each other in a cycle.
enum PostgresEnrollSQL: PostgresPreparedSQL {
    static let sql = """
        WITH token AS (
            SELECT id FROM enrollment_tokens
            WHERE hash = $1::text AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2::float8) AND uses_left > 0
            FOR UPDATE
        ), agent AS (
            INSERT INTO agents (id, name, name_key, public_key, hostname, os, version, enrolled_at, epoch)
            SELECT $3::text, $4::text, $5::text, $6::text, $7::text, $8::text, $9::text, $2::float8, 0 FROM token
            ON CONFLICT DO NOTHING
            RETURNING id
        ), spent AS (
            UPDATE enrollment_tokens SET uses_left = uses_left - 1
            WHERE id = (SELECT id FROM token) AND EXISTS (SELECT FROM agent)
            RETURNING id
        ), audit AS (
            INSERT INTO audit_log (at, actor, token_id, role, action, targets, detail, remote)
            SELECT $10::float8, $11::text, spent.id, $12::text, $13::text, $14::text, $15::text || spent.id, $16::text FROM spent
        )
        SELECT id FROM spent
        """

    /// The values for enrolling `agent` with the token whose hash is `tokenHash`; `audit` is the
    /// enrollment's entry but for the token's id, which the statement sets and appends to the detail.
    static func bindings(tokenHash: String, agent: AgentRecord, audit: AuditEntry) throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 16)
        bindings.append(tokenHash)
        // Now: what the token's expiry is compared with, and the agent's enrollment time.
        bindings.append(agent.enrolledAt.dbSeconds)
        for value in [agent.id, agent.name, AgentName.key(agent.name), agent.publicKey, agent.hostname, agent.os, agent.version] {
            bindings.append(value)
        }
        bindings.append(audit.at.dbSeconds)
        for value in [audit.actor, audit.role, audit.action, try audit.encodedTargets(), audit.detail, audit.remote] {
            bindings.append(value)
        }
        return bindings
    }
}
