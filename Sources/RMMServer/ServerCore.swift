import Foundation
import Logging
import RMMAPI
import RMMProtocol
import RMMStore

/// The server's parts that the gateway, the API and the timers share.
struct ServerCore: Sendable {
    let store: any Store
    let registry: SessionRegistry
    let commands: CommandService
    let feed: ChangeFeed
    let settings: ServerSettings
    /// The TLS trust part of enrollment tokens (a key pin or `system`); nil for a plain server.
    let enrollTrust: String?
    let logger: Logger
    /// Live API tokens recently seen, so most requests authenticate without a store read.
    let tokens = APITokenCache()
    /// The fleet's counts for readers that may take them a few seconds old.
    let summaries = FleetSummaryCache()

    /// Enrollment and API tokens: minting, listing, revoking.
    var accessTokens: AccessTokenService {
        AccessTokenService(store: store, serverKey: registry.signer.publicKey, enrollTrust: enrollTrust, cache: tokens)
    }

    /// The fleet's agent config: checking, saving and pushing a new one.
    var fleetConfig: FleetConfigService { FleetConfigService(store: store, registry: registry) }

    /// A batch's summary, long-polled.
    var batchWaits: BatchWaitService { BatchWaitService(store: store, feed: feed) }

    /// An agent merged with its live session for display.
    func view(of agent: AgentRecord, now: Date) async throws -> AgentView {
        if let view = try await AgentViews.views(of: [agent], core: self, now: now).first { return view }
        let config = await registry.currentConfig
        return AgentViews.view(of: agent, live: nil, stored: AgentViews.Stored(), config: config, now: now)
    }

    /// Counts by status without reading any agent row: live sessions say who is online or degraded.
    /// With other nodes on the store, the store's liveness says it for the whole cluster instead,
    /// by the rule an agent's own status follows there (`AgentViews.storedStatus`); the pending
    /// count stays this node's (what its sessions hold).
    func fleetSummary(now: Date) async throws -> FleetSummaryView {
        let (enrolled, revoked) = try await store.agentCounts()
        let deadline = await registry.currentConfig.heartbeatDeadline
        var online = 0, degraded = 0, pending = 0
        for session in await registry.allSessions {
            let snapshot = await session.snapshot()
            switch snapshot.status(now: now, deadline: deadline) {
            case .online: online += 1
            case .degraded: degraded += 1
            case .offline, .revoked: break
            }
            pending += snapshot.pendingOutbound
        }
        if registry.clustered {
            (online, degraded) = try await store.liveCounts(since: now.addingTimeInterval(-(deadline + settings.livenessFlushInterval)))
        }
        return FleetSummaryView(enrolled: enrolled, online: online, degraded: degraded,
                                offline: max(0, enrolled - revoked - online - degraded), revoked: revoked, pendingOutbound: pending)
    }

    /// `fleetSummary`, or its last result if at most `maxAge` seconds old: for the console's live
    /// streams, which would otherwise each visit every session.
    func recentFleetSummary(now: Date, maxAge: TimeInterval = 5) async throws -> FleetSummaryView {
        if let cached = summaries.fresh(now: now, maxAge: maxAge) { return cached }
        let summary = try await fleetSummary(now: now)
        summaries.store(summary, at: now)
        return summary
    }

    /// Records an operator action that changes no stored state (evict, diagnose) in the
    /// append-only audit log, before the response goes out. A state change stores its entry in
    /// its own transaction instead (`auditEntry`).
    func audit(_ context: OperatorContext, _ action: String, targets: [String], detail: String) async throws {
        try await store.appendAudit(Self.auditEntry(context, action, targets: targets, detail: detail))
    }

    /// The audit entry for an operator action, for a write that stores it in its own transaction.
    static func auditEntry(_ context: OperatorContext, _ action: String, targets: [String], detail: String) -> AuditEntry {
        AuditActor(context).entry(action, targets: targets, detail: detail, at: Date())
    }

    /// The latest link diagnosis: this run's, else the stored one.
    func latestDiagnosis(agentId: String) async throws -> LinkDiagnosis? {
        if let live = await registry.existingSession(for: agentId)?.lastDiagnosis { return live }
        guard let json = try await store.linkDiagnosis(agentId: agentId) else { return nil }
        return try? APICoding.decoder().decode(LinkDiagnosis.self, from: json)
    }

    /// Failed attempts no agent has claimed, per address, each judged alone.
    func unattributedEvidence() -> [AddressEvidenceView] {
        registry.handshakeBook.unattributed().map { address, facts in
            AddressEvidenceView(address: address, attributed: false, attempts: facts.map { fact in
                var evidence = LinkEvidence(source: .handshake, now: fact.closedAt, downlinkMode: fact.downlinkMode)
                evidence.handshake = fact
                let conclusion = LinkVerdict.decide(evidence).conclusion
                return AttemptView(verdict: conclusion?.verdict ?? .handshakeIncomplete, stage: conclusion?.stage ?? fact.stage,
                                   summary: conclusion?.summary ?? "", fact: fact)
            })
        }
    }

    /// Resolves an id or name to an agent, as an API error when it cannot.
    func requireAgent(_ idOrName: String) async throws -> AgentRecord {
        do {
            guard let agent = try await store.resolveAgent(idOrName) else { throw RequestError(404, "no agent with id or name '\(idOrName)'") }
            return agent
        } catch let error as StoreError {
            throw RequestError(409, error.description)
        }
    }
}
