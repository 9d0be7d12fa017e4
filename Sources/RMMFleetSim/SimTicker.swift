import Foundation
import RMMAgent
import RMMProtocol
import RMMTransport

/// The fleet's one timer: every `tickInterval` it visits the agents that have something due
/// (heartbeats, pings, data and handshake deadlines, link reports, an owed ack), instead of a timer
/// task per agent. Host metrics are sampled
/// once per heartbeat interval and shared: every simulated agent reports this machine's.
struct SimTicker: Sendable {
    let agents: [SimAgent]
    let fleet: SimFleet
    let metricsSource: any HostMetricsSource

    func run() async {
        let clock = ContinuousClock()
        var metrics: HostMetrics?
        var sampledAt = Date.distantPast
        let interval = Duration.milliseconds(Int64(fleet.options.tickInterval * 1000))
        while !Task.isCancelled {
            let started = clock.now
            let now = Date()
            if now.timeIntervalSince(sampledAt) >= AgentConfig.defaults.heartbeatInterval / 3 {
                metrics = await metricsSource.sample()
                sampledAt = now
            }
            let nowMilliseconds = Int64((now.timeIntervalSince1970 * 1000).rounded(.down))
            var reports: [(SimAgent, WebSocketLink)] = []
            for agent in agents where agent.isDue(nowMilliseconds) {
                if let link = agent.tick(now: now, metrics: metrics, fleet: fleet) { reports.append((agent, link)) }
            }
            for (agent, link) in reports {
                let report = await LinkReport.current(of: link, policy: agent.policy, consumerStalledSeconds: 0)
                link.send(Envelope(.linkReport(report)))
            }
            try? await Task.sleep(until: max(started.advanced(by: interval), clock.now.advanced(by: .milliseconds(10))), clock: clock)
        }
    }
}
