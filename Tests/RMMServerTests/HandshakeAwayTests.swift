import Foundation
import RMMProtocol
import RMMStore
import Testing
@testable import RMMServer

/// An agent that connects while the database cannot be reached is closed with a code it retries
/// (1011), never 4001, which would make it give up for good: its identity is fine, the server
/// only cannot look it up now.
@Suite("Handshake while the database is away")
struct HandshakeAwayTests {
    /// The agent registry of `base`, whose lookups and enrollments fail as an unreachable PostgreSQL does.
    final class AwayAgentStore: AgentStore, LivenessStore {
        let base: SQLiteStore
        init(base: SQLiteStore) { self.base = base }
        static let away = StoreError.unavailable("PostgreSQL did not answer within 10 s")

        func enrollAgent(tokenHash: String, publicKey: String, facts: AgentFacts, now: Date, remote: String) async throws -> AgentRecord { throw Self.away }
        func agent(id: String) async throws -> AgentRecord? { throw Self.away }
        func renameAgent(id: String, to name: String, audit: AuditEntry?) async throws -> AgentRecord {
            try await base.renameAgent(id: id, to: name, audit: audit)
        }
        func revokeAgent(id: String, now: Date, audit: AuditEntry?) async throws { try await base.revokeAgent(id: id, now: now, audit: audit) }
        func resolveAgent(_ idOrName: String) async throws -> AgentRecord? { try await base.resolveAgent(idOrName) }
        func resolveAgents(_ targets: [String]) async throws -> [Result<AgentRecord?, StoreError>] { try await base.resolveAgents(targets) }
        func agents() async throws -> [AgentRecord] { try await base.agents() }
        func agentPage(after: AgentPageCursor?, limit: Int) async throws -> [AgentRecord] { try await base.agentPage(after: after, limit: limit) }
        func agentCounts() async throws -> (enrolled: Int, revoked: Int) { try await base.agentCounts() }
        func agentNames(ids: [String]) async throws -> [String: String] { try await base.agentNames(ids: ids) }
        func liveAgentNames() async throws -> [(id: String, name: String)] { try await base.liveAgentNames() }
        func recordConnect(agentId: String, facts: AgentFacts, remote: String?, now: Date) async throws -> AgentRecord {
            try await base.recordConnect(agentId: agentId, facts: facts, remote: remote, now: now)
        }
        func saveLiveness(agentId: String, _ liveness: AgentLiveness) async throws { try await base.saveLiveness(agentId: agentId, liveness) }
        func saveLiveness(_ batch: [(agentId: String, liveness: AgentLiveness)]) async throws -> [String] { try await base.saveLiveness(batch) }
        func liveCounts(since: Date) async throws -> (online: Int, degraded: Int) { try await base.liveCounts(since: since) }
    }

    @Test("a hello the server cannot look up now is closed with 1011 (retried), not 4001 (given up)")
    func helloWhileAway() async throws {
        var rig = try await HandshakeRig.make()
        rig.handshake = AgentHandshake(
            store: AwayAgentStore(base: rig.store), registry: rig.registry, settings: ServerSettings(), logger: Fixture.quietLogger,
            serverVersion: "test", limiter: rig.handshake.limiter
        )
        let link = try await rig.helloToTheEnd()
        let closes = try await link.drain().compactMap { written -> UInt16? in
            if case .close(let code, _) = written { return code }
            return nil
        }
        #expect(closes == [CloseCode.internalError.rawValue])
    }
}
