import Foundation
import Hummingbird
import NIOCore
import RMMAPI
import RMMProtocol
import RMMStore

/// Agents merged with their live sessions for display, a page at a time: each page costs a fixed
/// number of store queries whatever its size, and `GET /agents` holds one page, never the fleet.
enum AgentViews {
    /// Agents per store page of the list.
    static let page = 500

    /// What the store holds about an agent beside its row.
    struct Stored: Sendable {
        /// The newest verdict.
        var verdict: VerdictRecord?
        /// The newest `pathFiltersData` verdict (read only for an agent whose downlink is in a fallback mode).
        var filtersCause: VerdictRecord?
        /// The stored link diagnosis, JSON (read only for an agent whose session has none this run).
        var diagnosis: Data?
    }

    /// The views of `agents`, in their order: at most three store queries for the whole list.
    static func views(of agents: [AgentRecord], core: ServerCore, now: Date) async throws -> [AgentView] {
        guard !agents.isEmpty else { return [] }
        let config = await core.registry.currentConfig
        let sessions = await core.registry.existingSessions(for: agents.map(\.id))
        var live: [String: (snapshot: SessionSnapshot, diagnosis: LinkDiagnosis?)] = [:]
        let clustered = core.registry.clustered
        for (id, session) in sessions {
            let snapshot = await session.snapshot()
            // With other nodes, a session here without a connection says nothing: the agent may
            // be connected elsewhere, and the store's liveness facts say so.
            if clustered, !snapshot.connected { continue }
            live[id] = (snapshot, await session.lastDiagnosis)
        }
        let clusterFlush = clustered ? core.settings.livenessFlushInterval : nil
        let ids = agents.map(\.id)
        let latest = try await core.store.latestVerdicts(agentIds: ids, only: nil)
        let fallback = agents.compactMap { agent in live[agent.id]?.snapshot.downlinkMode.flatMap { $0 == .text ? nil : agent.id } }
        let causes = fallback.isEmpty ? [:] : try await core.store.latestVerdicts(agentIds: fallback, only: .pathFiltersData)
        let undiagnosed = ids.filter { live[$0]?.diagnosis == nil }
        let diagnoses = undiagnosed.isEmpty ? [:] : try await core.store.linkDiagnoses(agentIds: undiagnosed)
        var views: [AgentView] = []
        views.reserveCapacity(agents.count)
        for agent in agents {
            var stored = Stored(verdict: latest[agent.id], filtersCause: causes[agent.id], diagnosis: diagnoses[agent.id])
            if let session = sessions[agent.id] { stored.verdict = await session.currentVerdict(storedLatest: stored.verdict) }
            views.append(view(of: agent, live: live[agent.id], stored: stored, config: config, now: now, clusterFlush: clusterFlush))
        }
        return views
    }

    /// One agent's view from what was read about it. `clusterFlush` (the liveness flush interval,
    /// set only when other nodes share the store) makes an agent without a session here take its
    /// status from the store (`storedStatus`).
    static func view(
        of agent: AgentRecord, live: (snapshot: SessionSnapshot, diagnosis: LinkDiagnosis?)?, stored: Stored, config: AgentConfig, now: Date,
        clusterFlush: Double? = nil
    ) -> AgentView {
        let snapshot = live?.snapshot
        let reason = snapshot?.downlinkMode.map { DownlinkReason.explain(mode: $0, cause: stored.filtersCause) }
        let elsewhere = clusterFlush.map { storedStatus(of: agent, now: now, deadline: config.heartbeatDeadline, flushInterval: $0) }
        var status = snapshot?.status(now: now, deadline: config.heartbeatDeadline) ?? elsewhere ?? .offline
        if agent.revokedAt != nil { status = .revoked }
        let diagnosis = live?.diagnosis ?? stored.diagnosis.flatMap { try? APICoding.decoder().decode(LinkDiagnosis.self, from: $0) }
        return AgentView(
            id: agent.id, name: agent.name, status: status, hostname: agent.hostname, os: agent.os, version: agent.version,
            enrolledAt: agent.enrolledAt, epoch: agent.epoch,
            connectedSince: snapshot?.connectedSince,
            lastSeenAt: snapshot?.lastSeenAt ?? agent.lastSeenAt,
            lastDownlinkAt: snapshot?.lastDownlinkAt ?? agent.lastDownlinkAt,
            disconnectedAt: snapshot?.disconnectedAt ?? agent.disconnectedAt,
            configVersion: config.version,
            configVersionApplied: snapshot?.configVersionApplied ?? agent.configVersionApplied,
            lastPongRttMs: snapshot?.lastPongRttMs ?? agent.lastPongRttMs,
            metrics: snapshot?.metrics ?? agent.metrics,
            pendingOutbound: snapshot?.pendingOutbound ?? 0,
            remoteAddress: snapshot?.remoteAddress,
            lastCloseReason: snapshot?.lastCloseReason,
            linkVerdict: diagnosis?.verdict,
            downlinkMode: snapshot?.downlinkMode,
            verdict: stored.verdict.map { VerdictView($0, withEvidence: false) },
            downlinkReason: reason
        )
    }

    /// Whether the store says the agent is connected (to some node): its connect is recorded at
    /// once, its disconnect when the holding node's session detaches.
    static func storedConnected(_ agent: AgentRecord) -> Bool {
        guard let since = agent.connectedSince else { return false }
        return agent.disconnectedAt.map { $0 < since } ?? true
    }

    /// The status of an agent whose session is on another node, from the liveness facts that
    /// node flushes every `flushInterval` seconds: the same rule as `SessionSnapshot.status`, each
    /// age allowed one flush interval more. A connect or a detach is written at once; a node that
    /// died writes nothing more, and its agents turn offline `deadline + flushInterval` later.
    static func storedStatus(of agent: AgentRecord, now: Date, deadline: Double, flushInterval: Double) -> AgentStatus {
        guard storedConnected(agent), let seen = agent.lastSeenAt, now.timeIntervalSince(seen) <= deadline + flushInterval else { return .offline }
        if let proof = agent.lastDownlinkAt, now.timeIntervalSince(proof) <= deadline + flushInterval { return .online }
        return .degraded
    }

    /// The response of `GET /agents`: a JSON array of every agent's view, written a page at a
    /// time. The first page is read before the status line, so a store failure is still an error
    /// response; a later one ends the chunked body without its last chunk (the client sees an
    /// incomplete response, never a short list that looks whole).
    static func list(_ core: ServerCore, pageSize: Int = page) async throws -> Response {
        let first = try await core.store.agentPage(after: nil, limit: pageSize)
        let body = ResponseBody { writer in
            var pieces = JSONPieces()
            pieces.raw("[")
            var agents = first
            while !agents.isEmpty {
                // Each page's status against the time it is read.
                for view in try await views(of: agents, core: core, now: Date()) {
                    try pieces.item(view)
                    try await pieces.flushIfFull(to: &writer)
                }
                guard agents.count == pageSize, let last = agents.last else { break }
                agents = try await core.store.agentPage(after: AgentPageCursor(after: last), limit: pageSize)
            }
            pieces.raw("]")
            try await pieces.flush(to: &writer)
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"], body: body)
    }
}
