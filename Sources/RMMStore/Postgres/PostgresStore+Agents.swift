import Foundation
import PostgresNIO
import RMMProtocol

/// The agent registry. An enrollment locks its token's row so that uses are never overspent, for
/// as short a time as it can: the usual enrollment is one statement that commits alone
/// (`PostgresEnrollSQL`); any other takes the careful path, a transaction that says why the
/// token refuses, returns the agent a key already has, or finds the next free name. Names and
/// public keys are unique by constraint, and an enrollment that meets another's name (or key) as
/// it inserts takes the next name (or that agent).
extension PostgresStore {
    public func enrollAgent(tokenHash: String, publicKey: String, facts: AgentFacts, now: Date, remote: String) async throws -> AgentRecord {
        // The server owns names: the agent's proposal is taken only if valid and free.
        let name = AgentName.sanitized(proposed: facts.name, hostname: facts.hostname)
        let agent = AgentRecord(
            id: RecordId.random(prefix: "ag_"), name: name,
            publicKey: publicKey, hostname: facts.hostname, os: facts.os, version: facts.version, enrolledAt: now
        )
        let bindings = try PostgresEnrollSQL.bindings(
            tokenHash: tokenHash, agent: agent, audit: Self.enrollmentAudit(agent, proposed: facts.name, tokenId: nil, remote: remote)
        )
        let enrolled = try await writeAlone { connection in
            var spent = false
            for try await _ in try await connection.run(PostgresEnrollSQL.self, bindings, logger: logger) { spent = true }
            return spent
        }
        if enrolled { return agent }
        return try await enrollCarefully(tokenHash: tokenHash, publicKey: publicKey, facts: facts, base: name, now: now, remote: remote)
    }

    /// An enrollment the one statement did not make, in a transaction holding the token's row:
    /// the same checks in the same order as `SQLiteStore.enrollAgent`, then the first free name.
    private func enrollCarefully(
        tokenHash: String, publicKey: String, facts: AgentFacts, base: String, now: Date, remote: String
    ) async throws -> AgentRecord {
        try await write { connection in
            guard let token = try await connection.rows(
                "SELECT \(unescaped: EnrollmentTokenRecord.columns) FROM enrollment_tokens WHERE hash = \(tokenHash) FOR UPDATE",
                logger: logger, EnrollmentTokenRecord.init(postgres:)
            ).first else {
                throw StoreError.enrollmentTokenUnknown
            }
            // Checked before the token's limits: an agent retrying after a lost reply may find the
            // token used up (by itself) or expired, and must still get its own record back.
            if let existing = try await agent(publicKey: publicKey, connection) { return existing }
            if let refusal = token.refusal(now: now) { throw refusal }

            var lost: Set<String> = []
            while true {
                let name = try await freeName(base, besides: lost, connection)
                let agent = AgentRecord(
                    id: RecordId.random(prefix: "ag_"), name: name,
                    publicKey: publicKey, hostname: facts.hostname, os: facts.os, version: facts.version, enrolledAt: now
                )
                // DO NOTHING waits for a concurrent enrollment holding the same name or key to end.
                let inserted = try await connection.count(
                    """
                    INSERT INTO agents (id, name, name_key, public_key, hostname, os, version, enrolled_at, epoch)
                    VALUES (\(agent.id), \(name), \(AgentName.key(name)), \(publicKey), \(facts.hostname), \(facts.os), \(facts.version), \(now.dbSeconds), 0)
                    ON CONFLICT DO NOTHING RETURNING id
                    """,
                    logger: logger
                )
                if inserted == 0 {
                    // That enrollment committed first: the same key is the same agent, else the name went.
                    if let existing = try await self.agent(publicKey: publicKey, connection) { return existing }
                    lost.insert(AgentName.key(name))
                    continue
                }
                _ = try await connection.query("UPDATE enrollment_tokens SET uses_left = uses_left - 1 WHERE id = \(token.id)", logger: logger)
                try await insertAudit(Self.enrollmentAudit(agent, proposed: facts.name, tokenId: token.id, remote: remote), connection)
                return agent
            }
        }
    }

    /// The audit entry of `agent`'s enrollment with token `tokenId`, whose detail ends with that
    /// id (without one, the detail ends where it goes: `PostgresEnrollSQL` fills it in).
    private static func enrollmentAudit(_ agent: AgentRecord, proposed: String, tokenId: String?, remote: String) -> AuditEntry {
        let proposal = proposed == agent.name ? "" : " (it proposed '\(AgentName.printable(proposed))')"
        return AuditEntry(
            at: agent.enrolledAt, actor: "agent", tokenId: tokenId, role: "agent", action: "agents.enroll", targets: [agent.id],
            detail: "enrolled as '\(agent.name)'\(proposal) with enrollment token \(tokenId ?? "")", remote: remote
        )
    }

    /// The first of `AgentName.unique`'s candidates for `base` that no agent holds and is not in
    /// `lost`, looking candidates up a window at a time (one query for the usual case).
    private func freeName(_ base: String, besides lost: Set<String>, _ connection: PostgresConnection) async throws -> String {
        let window = 32
        var skip = 0
        while true {
            var candidates: [String] = []
            _ = AgentName.unique(base) { candidate in
                candidates.append(candidate)
                return candidates.count < skip + window
            }
            candidates.removeFirst(min(skip, candidates.count))
            let keys = candidates.map(AgentName.key)
            let held = try await connection.rows("SELECT name_key FROM agents WHERE name_key = ANY(\(keys))", logger: logger) { row in
                try PostgresRowReader(row, table: "agents").value(0, as: String.self)
            }
            let taken = lost.union(held)
            if let free = candidates.first(where: { !taken.contains(AgentName.key($0)) }) { return free }
            skip += window
        }
    }

    public func renameAgent(id: String, to name: String, audit: AuditEntry?) async throws -> AgentRecord {
        if let problem = AgentName.problem(name) { throw StoreError.invalid(problem) }
        do {
            return try await write { connection in
                guard var agent = try await connection.rows(
                    "SELECT \(unescaped: AgentRecord.columns) FROM agents WHERE id = \(id) FOR UPDATE", logger: logger, AgentRecord.init(postgres:)
                ).first else {
                    throw StoreError.notFound("agent '\(id)'")
                }
                if let holder = try await nameHolder(name, connection), holder != id {
                    throw StoreError.conflict("agent name '\(name)' is taken by agent \(holder)")
                }
                do {
                    _ = try await connection.query("UPDATE agents SET name = \(name), name_key = \(AgentName.key(name)) WHERE id = \(id)", logger: logger)
                } catch where Self.sqlState(error) == Self.uniqueViolation {
                    throw NameTakenMeanwhile()
                }
                if let audit { try await insertAudit(audit, connection) }
                agent.name = name
                return agent
            }
        } catch is NameTakenMeanwhile {
            // A concurrent rename (or enrollment) took the name between the check and the update;
            // this transaction is over, so its holder is read anew.
            let holder = try await read { connection in try await nameHolder(name, connection) }
            throw StoreError.conflict("agent name '\(name)' is taken by agent \(holder ?? "that committed first")")
        }
    }

    /// A rename's update met the name's unique key: another transaction took it after the check.
    private struct NameTakenMeanwhile: Error {}

    /// The id of the agent holding `name` (compared by `AgentName.key`), if any.
    private func nameHolder(_ name: String, _ connection: PostgresConnection) async throws -> String? {
        try await connection.rows("SELECT id FROM agents WHERE name_key = \(AgentName.key(name))", logger: logger) { row in
            try PostgresRowReader(row, table: "agents").value(0, as: String.self)
        }.first
    }

    public func revokeAgent(id: String, now: Date, audit: AuditEntry?) async throws {
        try await write { connection in
            let revoked = try await connection.count(
                "UPDATE agents SET revoked_at = COALESCE(revoked_at, \(now.dbSeconds)) WHERE id = \(id) RETURNING id", logger: logger
            )
            if revoked == 0 { throw StoreError.notFound("agent '\(id)'") }
            if let audit { try await insertAudit(audit, connection) }
        }
    }

    public func agent(id: String) async throws -> AgentRecord? {
        var binds = PostgresBindings()
        binds.append(id)
        return try await read { connection in
            for try await row in try await connection.run(AgentByIdSQL.self, binds, logger: logger) { return try AgentRecord(postgres: row) }
            return nil
        }
    }

    /// An agent by id: read at every handshake, so prepared.
    enum AgentByIdSQL: PostgresPreparedSQL {
        static let sql = "SELECT \(AgentRecord.columns) FROM agents WHERE id = $1::text"
    }

    private func agent(publicKey: String, _ connection: PostgresConnection) async throws -> AgentRecord? {
        try await connection.rows(
            "SELECT \(unescaped: AgentRecord.columns) FROM agents WHERE public_key = \(publicKey)", logger: logger, AgentRecord.init(postgres:)
        ).first
    }

    public func resolveAgent(_ idOrName: String) async throws -> AgentRecord? {
        try await resolveAgents([idOrName])[0].get()
    }

    public func resolveAgents(_ targets: [String]) async throws -> [Result<AgentRecord?, StoreError>] {
        guard !targets.isEmpty else { return [] }
        let unique = Array(Set(targets))
        // Each target's candidates: the agent with this id first, then those with this name in
        // enrollment order (`AgentTarget`).
        let targetColumn = AgentRecord.columns.split(separator: ",").count
        let rows = try await read { connection in
            var found: [(String, AgentRecord)] = []
            let query: PostgresQuery = """
                SELECT \(unescaped: AgentRecord.columns), target FROM (
                    SELECT a.*, q.target, a.id = q.target AS by_id
                    FROM unnest(\(unique)::text[], \(unique.map(AgentName.key))::text[]) AS q(target, key)
                    JOIN agents a ON a.id = q.target OR a.name_key = q.key
                ) m ORDER BY target, by_id DESC, enrolled_at, seq
                """
            for try await row in try await connection.query(query, logger: logger) {
                let target = try PostgresCells(row, what: "an agent target").value(targetColumn, "target", as: String.self)
                found.append((target, try AgentRecord(postgres: row)))
            }
            return found
        }
        let candidates = Dictionary(grouping: rows, by: \.0).mapValues { $0.map(\.1) }
        return targets.map { AgentTarget.pick($0, from: candidates[$0] ?? []) }
    }

    public func agents() async throws -> [AgentRecord] {
        try await read { connection in
            try await connection.rows(
                "SELECT \(unescaped: AgentRecord.columns) FROM agents ORDER BY name, id", logger: logger, AgentRecord.init(postgres:)
            )
        }
    }

    public func agentPage(after: AgentPageCursor?, limit: Int) async throws -> [AgentRecord] {
        let limit = max(0, limit)
        let query: PostgresQuery = if let after {
            "SELECT \(unescaped: AgentRecord.columns) FROM agents WHERE (name, id) > (\(after.name), \(after.id)) ORDER BY name, id LIMIT \(limit)"
        } else {
            "SELECT \(unescaped: AgentRecord.columns) FROM agents ORDER BY name, id LIMIT \(limit)"
        }
        return try await read { connection in try await connection.rows(query, logger: logger, AgentRecord.init(postgres:)) }
    }

    public func agentCounts() async throws -> (enrolled: Int, revoked: Int) {
        let counts = try await read { connection in
            try await connection.rows("SELECT count(*), count(revoked_at) FROM agents", logger: logger) { row in
                let reader = PostgresRowReader(row, table: "agents")
                return (enrolled: try reader.value(0, as: Int.self), revoked: try reader.value(1, as: Int.self))
            }.first
        }
        return counts ?? (0, 0)
    }

    public func agentNames(ids: [String]) async throws -> [String: String] {
        guard !ids.isEmpty else { return [:] }
        let pairs = try await read { connection in
            try await connection.rows("SELECT id, name FROM agents WHERE id = ANY(\(Array(Set(ids))))", logger: logger) { row in
                let reader = PostgresRowReader(row, table: "agents")
                return (id: try reader.value(0, as: String.self), name: try reader.value(1, as: String.self))
            }
        }
        return Dictionary(pairs.map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first })
    }

    public func liveAgentNames() async throws -> [(id: String, name: String)] {
        try await read { connection in
            try await connection.rows("SELECT id, name FROM agents WHERE revoked_at IS NULL ORDER BY name, id", logger: logger) { row in
                let reader = PostgresRowReader(row, table: "agents")
                return (id: try reader.value(0, as: String.self), name: try reader.value(1, as: String.self))
            }
        }
    }
}

extension AgentRecord {
    /// Decodes a row of `columns`, by position.
    init(postgres row: PostgresRow) throws {
        let reader = PostgresRowReader(row, table: "agents")
        let metricsJSON = try reader.value(14, as: String?.self)
        self.init(
            id: try reader.value(0), name: try reader.value(1), publicKey: try reader.value(2),
            hostname: try reader.value(3), os: try reader.value(4), version: try reader.value(5),
            enrolledAt: try reader.date(6), epoch: try reader.value(7),
            lastSeenAt: try reader.optionalDate(8), connectedSince: try reader.optionalDate(9),
            lastDownlinkAt: try reader.optionalDate(10), disconnectedAt: try reader.optionalDate(11),
            configVersionApplied: try reader.value(12), lastPongRttMs: try reader.value(13),
            metrics: try metricsJSON.map { try StoredJSON.decode(HostMetrics.self, from: $0, what: "agent metrics") },
            revokedAt: try reader.optionalDate(15), remoteAddress: try reader.value(16)
        )
    }
}
