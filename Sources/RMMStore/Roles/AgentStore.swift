import Foundation
import RMMProtocol

/// The agent registry: enrolling, naming and revoking agents, and the reads that find and list them.
public protocol AgentStore: Sendable {
    /// Enrolls an agent: consumes one use of the token, creates the agent and audits it
    /// (`agents.enroll`, naming the enrollment token's id and `remote`), atomically. The agent's
    /// proposed name is taken if valid and free, else made unique ("web-2"; `AgentName`).
    /// Idempotent by public key: the same key gets the same agent back and consumes nothing.
    func enrollAgent(tokenHash: String, publicKey: String, facts: AgentFacts, now: Date, remote: String) async throws -> AgentRecord
    /// Gives an agent a new name: `invalid` for a name `AgentName.problem` refuses, `conflict` if
    /// another agent holds it (case-insensitively), `notFound` for an unknown agent; `audit` is
    /// stored in the same transaction.
    func renameAgent(id: String, to name: String, audit: AuditEntry?) async throws -> AgentRecord
    /// Revokes an agent (`notFound` if unknown), with `audit` in the same transaction.
    func revokeAgent(id: String, now: Date, audit: AuditEntry?) async throws

    func agent(id: String) async throws -> AgentRecord?
    /// An agent by id, or else by name (case-insensitively); `conflict` listing the candidates' ids
    /// if the text could mean more than one agent.
    func resolveAgent(_ idOrName: String) async throws -> AgentRecord?
    /// `resolveAgent` for each of `targets` in one read, answered in their order: the agent, nil
    /// when none matches, or the `conflict` `resolveAgent` would throw.
    func resolveAgents(_ targets: [String]) async throws -> [Result<AgentRecord?, StoreError>]
    func agents() async throws -> [AgentRecord]
    /// At most `limit` agents in the order of `agents()`, those after `after` (keyset paging: a
    /// page costs the same however deep it is).
    func agentPage(after: AgentPageCursor?, limit: Int) async throws -> [AgentRecord]
    /// How many agents are enrolled, and how many of them are revoked (one query).
    func agentCounts() async throws -> (enrolled: Int, revoked: Int)
    /// Names of the given agents, by id (unknown ids are left out).
    func agentNames(ids: [String]) async throws -> [String: String]
    /// Every agent that is not revoked, as id and name, by name (a fan-out to all needs no more).
    func liveAgentNames() async throws -> [(id: String, name: String)]
}

extension AgentStore {
    /// Enrolls with an unknown remote address in the audit entry (tests, tools).
    public func enrollAgent(tokenHash: String, publicKey: String, facts: AgentFacts, now: Date) async throws -> AgentRecord {
        try await enrollAgent(tokenHash: tokenHash, publicKey: publicKey, facts: facts, now: now, remote: "unknown")
    }

    /// The same without an audit entry (tests, tools).
    public func revokeAgent(id: String, now: Date) async throws {
        try await revokeAgent(id: id, now: now, audit: nil)
    }
}
