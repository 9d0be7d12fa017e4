import Foundation
import Prometheus
import RMMAPI
import RMMProtocol

/// The gauges computed when `/metrics` is read rather than kept up to date by every event: the
/// fleet's counts by status (the cluster's, as GET /api/v1/fleet counts them) and this node's
/// sessions by status and downlink mode.
struct ScrapeGauges: Sendable {
    private let agents: [AgentStatus: Gauge]
    private let sessions: [SessionStatusLabel: [DownlinkMode: Gauge]]

    init(registry: PrometheusCollectorRegistry) {
        let statuses: [AgentStatus] = [.online, .degraded, .offline, .revoked]
        agents = Dictionary(uniqueKeysWithValues: statuses.map {
            ($0, registry.makeGauge(descriptor: MetricName.agents, labels: [("status", $0.rawValue)]))
        })
        sessions = Dictionary(uniqueKeysWithValues: SessionStatusLabel.allCases.map { status in
            (status, Dictionary(uniqueKeysWithValues: DownlinkMode.allCases.map { mode in
                (mode, registry.makeGauge(descriptor: MetricName.nodeSessions, labels: [("status", status.rawValue), ("downlink", mode.rawValue)]))
            }))
        })
    }

    /// Sets every gauge from `core` as of `now`. A fleet count the store cannot give leaves the
    /// agents' gauges as they were; the sessions' come from memory and are always set.
    func update(core: ServerCore, now: Date) async {
        let deadline = await core.registry.currentConfig.heartbeatDeadline
        var counts: [SessionStatusLabel: [DownlinkMode: Int]] = [:]
        for session in await core.registry.allSessions {
            let snapshot = await session.snapshot()
            guard let status = SessionStatusLabel(snapshot.status(now: now, deadline: deadline)) else { continue }
            counts[status, default: [:]][snapshot.downlinkMode ?? .text, default: 0] += 1
        }
        for (status, modes) in sessions {
            for (mode, gauge) in modes { gauge.set(to: Double(counts[status]?[mode] ?? 0)) }
        }
        guard let fleet = try? await core.fleetSummary(now: now) else { return }
        agents[.online]?.set(to: Double(fleet.online))
        agents[.degraded]?.set(to: Double(fleet.degraded))
        agents[.offline]?.set(to: Double(fleet.offline))
        agents[.revoked]?.set(to: Double(fleet.revoked))
    }
}
