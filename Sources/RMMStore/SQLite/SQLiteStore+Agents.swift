import Foundation
import GRDB
import RMMProtocol

/// Enrollment tokens and agents.
extension SQLiteStore {
    public func createEnrollmentToken(
        hash: String, expiresAt: Date?, uses: Int, now: Date, audit: (@Sendable (EnrollmentTokenRecord) -> AuditEntry)?
    ) async throws -> EnrollmentTokenRecord {
        guard uses >= 0 else { throw StoreError.conflict("an enrollment token needs zero or more uses, not \(uses)") }
        let record = EnrollmentTokenRecord(id: RecordId.random(prefix: "et_"), createdAt: now, expiresAt: expiresAt, usesLeft: uses)
        return try await write { db in
            do {
                try db.execute(
                    sql: "INSERT INTO enrollment_tokens (id, hash, created_at, expires_at, uses_left) VALUES (?, ?, ?, ?, ?)",
                    arguments: [record.id, hash, now.dbSeconds, expiresAt.dbSeconds, uses]
                )
            } catch where Self.isUniqueViolation(error) {
                throw StoreError.conflict("an enrollment token with this secret already exists")
            }
            if let audit { try Self.insertAudit(audit(record), db) }
            return record
        }
    }

    public func revokeEnrollmentToken(id: String, now: Date, audit: AuditEntry?) async throws {
        try await write { db in
            // COALESCE keeps the first revocation time when revoked twice.
            try db.execute(
                sql: "UPDATE enrollment_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?",
                arguments: [now.dbSeconds, id]
            )
            if db.changesCount == 0 { throw StoreError.notFound("enrollment token '\(id)'") }
            if let audit { try Self.insertAudit(audit, db) }
        }
    }

    public func enrollmentTokens() async throws -> [EnrollmentTokenRecord] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT \(EnrollmentTokenRecord.columns) FROM enrollment_tokens ORDER BY created_at, rowid")
                .map(EnrollmentTokenRecord.init(row:))
        }
    }

    public func enrollmentToken(hash: String) async throws -> EnrollmentTokenRecord? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT \(EnrollmentTokenRecord.columns) FROM enrollment_tokens WHERE hash = ?", arguments: [hash])
                .map(EnrollmentTokenRecord.init(row:))
        }
    }

    public func enrollAgent(tokenHash: String, publicKey: String, facts: AgentFacts, now: Date, remote: String) async throws -> AgentRecord {
        try await write { db in
            guard let row = try Row.fetchOne(
                db, sql: "SELECT \(EnrollmentTokenRecord.columns) FROM enrollment_tokens WHERE hash = ?", arguments: [tokenHash]
            ) else {
                throw StoreError.enrollmentTokenUnknown
            }
            let token = try EnrollmentTokenRecord(row: row)
            // Checked before the token's limits: an agent retrying after a lost reply may find the
            // token used up (by itself) or expired, and must still get its own record back.
            if let existing = try Self.agent(publicKey: publicKey, db) { return existing }
            if let refusal = token.refusal(now: now) { throw refusal }

            try db.execute(sql: "UPDATE enrollment_tokens SET uses_left = uses_left - 1 WHERE id = ?", arguments: [token.id])
            // The server owns names: the agent's proposal is taken only if valid and free.
            let name = try AgentName.unique(AgentName.sanitized(proposed: facts.name, hostname: facts.hostname)) { try Self.nameHolder($0, db) != nil }
            let agent = AgentRecord(
                id: RecordId.random(prefix: "ag_"), name: name,
                publicKey: publicKey, hostname: facts.hostname, os: facts.os, version: facts.version, enrolledAt: now
            )
            try db.execute(
                sql: """
                    INSERT INTO agents (id, name, name_key, public_key, hostname, os, version, enrolled_at, epoch)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)
                    """,
                arguments: [agent.id, agent.name, AgentName.key(name), agent.publicKey, agent.hostname, agent.os, agent.version, now.dbSeconds]
            )
            let proposed = facts.name == name ? "" : " (it proposed '\(AgentName.printable(facts.name))')"
            try Self.insertAudit(AuditEntry(
                at: now, actor: "agent", tokenId: token.id, role: "agent", action: "agents.enroll", targets: [agent.id],
                detail: "enrolled as '\(name)'\(proposed) with enrollment token \(token.id)", remote: remote
            ), db)
            return agent
        }
    }

    public func renameAgent(id: String, to name: String, audit: AuditEntry?) async throws -> AgentRecord {
        if let problem = AgentName.problem(name) { throw StoreError.invalid(problem) }
        return try await write { db in
            guard var agent = try Self.agent(id: id, db) else { throw StoreError.notFound("agent '\(id)'") }
            if let holder = try Self.nameHolder(name, db), holder != id {
                throw StoreError.conflict("agent name '\(name)' is taken by agent \(holder)")
            }
            try db.execute(sql: "UPDATE agents SET name = ?, name_key = ? WHERE id = ?", arguments: [name, AgentName.key(name), id])
            if let audit { try Self.insertAudit(audit, db) }
            agent.name = name
            return agent
        }
    }

    /// The id of the agent holding `name` (compared by `AgentName.key`), if any.
    private static func nameHolder(_ name: String, _ db: Database) throws -> String? {
        try String.fetchOne(db.cachedStatement(sql: "SELECT id FROM agents WHERE name_key = ?"), arguments: [AgentName.key(name)])
    }

    public func agent(id: String) async throws -> AgentRecord? {
        try await read { db in try Self.agent(id: id, db) }
    }

    public func resolveAgent(_ idOrName: String) async throws -> AgentRecord? {
        try await read { db in try Self.resolve(idOrName, db) }.get()
    }

    public func resolveAgents(_ targets: [String]) async throws -> [Result<AgentRecord?, StoreError>] {
        try await read { db in try targets.map { try Self.resolve($0, db) } }
    }

    /// The agent with this id first, then those with this name in enrollment order (`AgentTarget`).
    private static func resolve(_ idOrName: String, _ db: Database) throws -> Result<AgentRecord?, StoreError> {
        let byId = try agent(id: idOrName, db)
        let byName = try Row.fetchAll(
            db.cachedStatement(sql: "SELECT \(AgentRecord.columns) FROM agents WHERE name_key = ? ORDER BY enrolled_at, rowid"),
            arguments: [AgentName.key(idOrName)]
        ).map(AgentRecord.init(row:))
        return AgentTarget.pick(idOrName, from: [byId].compactMap { $0 } + byName)
    }

    public func agentCounts() async throws -> (enrolled: Int, revoked: Int) {
        try await read { db in
            let row = try Row.fetchOne(db, sql: "SELECT COUNT(*) AS n, COUNT(revoked_at) AS r FROM agents")
            return (row?["n"] ?? 0, row?["r"] ?? 0)
        }
    }

    public func agentNames(ids: [String]) async throws -> [String: String] {
        guard !ids.isEmpty else { return [:] }
        let json = JSONIdList.text(Set(ids))
        return try await read { db in
            var names: [String: String] = [:]
            for row in try Row.fetchAll(db.cachedStatement(sql: "SELECT id, name FROM agents WHERE id IN (SELECT value FROM json_each(?))"), arguments: [json]) {
                names[row["id"]] = row["name"]
            }
            return names
        }
    }

    public func liveAgentNames() async throws -> [(id: String, name: String)] {
        try await read { db in
            try Row.fetchAll(db.cachedStatement(sql: "SELECT id, name FROM agents WHERE revoked_at IS NULL ORDER BY name, id")).map { row in
                (id: try row.value(at: 0, "id"), name: try row.value(at: 1, "name"))
            }
        }
    }

    public func agents() async throws -> [AgentRecord] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT \(AgentRecord.columns) FROM agents ORDER BY name, id").map(AgentRecord.init(row:))
        }
    }

    public func agentPage(after: AgentPageCursor?, limit: Int) async throws -> [AgentRecord] {
        let limit = max(0, limit)
        return try await read { db in
            if let after {
                return try Row.fetchAll(db.cachedStatement(sql: Self.agentPageAfterQuery), arguments: [after.name, after.id, limit])
                    .map(AgentRecord.init(row:))
            }
            return try Row.fetchAll(db.cachedStatement(sql: Self.agentFirstPageQuery), arguments: [limit])
                .map(AgentRecord.init(row:))
        }
    }

    /// A page of agents after a (name, id) position, through `agents_by_name_id`.
    static let agentPageAfterQuery = "SELECT \(AgentRecord.columns) FROM agents WHERE (name, id) > (?, ?) ORDER BY name, id LIMIT ?"
    /// The first page of agents, through `agents_by_name_id`.
    static let agentFirstPageQuery = "SELECT \(AgentRecord.columns) FROM agents ORDER BY name, id LIMIT ?"

    public func linkDiagnoses(agentIds: [String]) async throws -> [String: Data] {
        guard !agentIds.isEmpty else { return [:] }
        let json = JSONIdList.text(Set(agentIds))
        return try await read { db in
            var diagnoses: [String: Data] = [:]
            let sql = "SELECT id, link_diagnosis FROM agents WHERE id IN (SELECT value FROM json_each(?)) AND link_diagnosis IS NOT NULL"
            for row in try Row.fetchAll(db.cachedStatement(sql: sql), arguments: [json]) {
                diagnoses[try row.value(at: 0, "id")] = try row.value(at: 1, "link_diagnosis")
            }
            return diagnoses
        }
    }

    public func recordConnect(agentId: String, facts: AgentFacts, remote: String?, now: Date) async throws -> AgentRecord {
        try await write { db in
            guard var agent = try Self.agent(id: agentId, db) else { throw StoreError.notFound("agent '\(agentId)'") }
            agent.epoch += 1
            // The name is the server's (given at enrollment, changed only by an operator's rename).
            agent.hostname = facts.hostname
            agent.os = facts.os
            agent.version = facts.version
            agent.connectedSince = now
            agent.lastSeenAt = now
            agent.disconnectedAt = nil
            if let remote { agent.remoteAddress = remote }
            try Self.update(agent, db)
            return agent
        }
    }

    public func saveLiveness(agentId: String, _ liveness: AgentLiveness) async throws {
        let metrics = try liveness.metrics.map(StoredJSON.encode)
        try await write { db in
            guard try Self.saveLiveness(agentId: agentId, liveness, metricsJSON: metrics, db) else {
                throw StoreError.notFound("agent '\(agentId)'")
            }
        }
    }

    public func saveLiveness(_ batch: [(agentId: String, liveness: AgentLiveness)]) async throws -> [String] {
        guard !batch.isEmpty else { return [] }
        // Encoded before the write, so the shared write transaction does no JSON work.
        let rows = try batch.map { (agentId: $0.agentId, liveness: $0.liveness, metrics: try $0.liveness.metrics.map(StoredJSON.encode)) }
        return try await write { db in
            var unknown: [String] = []
            for row in rows where try !Self.saveLiveness(agentId: row.agentId, row.liveness, metricsJSON: row.metrics, db) {
                unknown.append(row.agentId)
            }
            return unknown
        }
    }

    public func liveCounts(since: Date) async throws -> (online: Int, degraded: Int) {
        try await read { db in
            let row = try Row.fetchOne(db, sql: """
                SELECT COUNT(*) AS seen, COALESCE(SUM(CASE WHEN last_downlink_at >= ?1 THEN 1 ELSE 0 END), 0) AS proven FROM agents
                WHERE revoked_at IS NULL AND connected_since IS NOT NULL AND (disconnected_at IS NULL OR disconnected_at < connected_since)
                    AND last_seen_at >= ?1
                """, arguments: [since.dbSeconds])
            let seen: Int = row?["seen"] ?? 0, proven: Int = row?["proven"] ?? 0
            return (proven, seen - proven)
        }
    }

    public func saveLinkDiagnosis(agentId: String, _ json: Data) async throws {
        try await write { db in
            try db.execute(sql: "UPDATE agents SET link_diagnosis = ? WHERE id = ?", arguments: [json, agentId])
            if db.changesCount == 0 { throw StoreError.notFound("agent '\(agentId)'") }
        }
    }

    public func linkDiagnosis(agentId: String) async throws -> Data? {
        try await read { db in
            try Data.fetchOne(db, sql: "SELECT link_diagnosis FROM agents WHERE id = ?", arguments: [agentId])
        }
    }

    public func revokeAgent(id: String, now: Date, audit: AuditEntry?) async throws {
        try await write { db in
            try db.execute(sql: "UPDATE agents SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?", arguments: [now.dbSeconds, id])
            if db.changesCount == 0 { throw StoreError.notFound("agent '\(id)'") }
            if let audit { try Self.insertAudit(audit, db) }
        }
    }

    static func agent(id: String, _ db: Database) throws -> AgentRecord? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT \(AgentRecord.columns) FROM agents WHERE id = ?"), arguments: [id])
            .map(AgentRecord.init(row:))
    }

    private static func agent(publicKey: String, _ db: Database) throws -> AgentRecord? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT \(AgentRecord.columns) FROM agents WHERE public_key = ?"), arguments: [publicKey])
            .map(AgentRecord.init(row:))
    }

    /// The liveness columns a flush may overwrite: a nil argument keeps the stored value, and a
    /// disconnect clears `connected_since` (an offline agent has no live connection to date from)
    /// unless the same flush sets it.
    private static let livenessUpdate = """
        UPDATE agents SET
            last_seen_at = COALESCE(?1, last_seen_at),
            last_downlink_at = COALESCE(?2, last_downlink_at),
            connected_since = CASE WHEN ?3 IS NOT NULL THEN ?3 WHEN ?4 IS NOT NULL THEN NULL ELSE connected_since END,
            disconnected_at = COALESCE(?4, disconnected_at),
            config_version_applied = COALESCE(?5, config_version_applied),
            last_pong_rtt_ms = COALESCE(?6, last_pong_rtt_ms),
            metrics_json = COALESCE(?7, metrics_json)
        WHERE id = ?8 AND (?9 IS NULL OR epoch <= ?9)
        """

    /// Applies one agent's liveness in the caller's transaction (not at all if it carries an epoch
    /// older than the agent's); false only if there is no such agent.
    private static func saveLiveness(agentId: String, _ liveness: AgentLiveness, metricsJSON: String?, _ db: Database) throws -> Bool {
        try db.cachedStatement(sql: livenessUpdate).execute(arguments: [
            liveness.lastSeenAt.dbSeconds, liveness.lastDownlinkAt.dbSeconds, liveness.connectedSince.dbSeconds,
            liveness.disconnectedAt.dbSeconds, liveness.configVersionApplied, liveness.lastPongRttMs, metricsJSON, agentId,
            liveness.epoch,
        ])
        if db.changesCount > 0 { return true }
        guard liveness.epoch != nil else { return false }
        return try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM agents WHERE id = ?"), arguments: [agentId]) != nil
    }

    /// Writes every mutable column of `agent` but its name (id, key and enrollment time never change;
    /// the name changes only through `renameAgent`, which keeps `name_key` with it).
    private static func update(_ agent: AgentRecord, _ db: Database) throws {
        try db.executeCached(
            sql: """
                UPDATE agents SET hostname = ?, os = ?, version = ?, epoch = ?, last_seen_at = ?,
                    connected_since = ?, last_downlink_at = ?, disconnected_at = ?, config_version_applied = ?,
                    last_pong_rtt_ms = ?, metrics_json = ?, revoked_at = ?, remote_address = ?
                WHERE id = ?
                """,
            arguments: [
                agent.hostname, agent.os, agent.version, agent.epoch, agent.lastSeenAt.dbSeconds,
                agent.connectedSince.dbSeconds, agent.lastDownlinkAt.dbSeconds, agent.disconnectedAt.dbSeconds,
                agent.configVersionApplied, agent.lastPongRttMs, try agent.metrics.map(StoredJSON.encode),
                agent.revokedAt.dbSeconds, agent.remoteAddress, agent.id,
            ]
        )
    }
}
