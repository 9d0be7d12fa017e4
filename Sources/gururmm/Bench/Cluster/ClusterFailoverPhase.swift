import Foundation
import RMMAPI

extension ClusterBench {
    /// Every node holds `failoverAgents`; a command is queued on node 1 for each agent of the last
    /// node, which is SIGKILLed as soon as the batch is accepted: how long until its agents are
    /// connected elsewhere and every one of those commands is done, once.
    mutating func failover(_ cluster: BenchCluster) async throws {
        let perNode = options.failoverAgents, victim = cluster.nodes.count - 1
        guard victim > 0 else { throw BenchError("failover needs at least 2 nodes") }
        for node in cluster.nodes.indices {
            try await cluster.addAgents(perNode, node: node, perSimulator: options.perSimulator, statusInterval: 0.5)
        }
        try await cluster.waitOnline(perNode * cluster.nodes.count)
        let node = try cluster.first
        let victims = cluster.simulators.filter { $0.node == victim }
        let ids = try await node.api.agents().filter { agent in victims.contains { agent.name.hasPrefix($0.prefix) } }.map(\.id)
        guard ids.count == perNode else { throw BenchError("found \(ids.count) agents of node \(victim + 1), expected \(perNode)") }
        func counters() -> (connected: Int, welcomes: Int, received: Int, duplicates: Int) {
            victims.compactMap { BenchSimulatorStats.latest(in: $0.child.log) }.reduce((0, 0, 0, 0)) {
                ($0.0 + $1.connected, $0.1 + $1.welcomes, $0.2 + $1.commandsReceived, $0.3 + $1.duplicates)
            }
        }
        try await benchWait("the simulators of node \(victim + 1) to report all \(perNode) agents connected", timeout: 30, every: 0.25) {
            counters().connected >= perNode
        }
        let base = counters()
        note("failover: queueing \(perNode) commands on node 1, then SIGKILL to node \(victim + 1)")
        let profileStart = try await cluster.beginProfile()
        let before = cluster.cpu()
        let batch = try await node.api.run(RunRequest(agents: ids, all: nil, command: "true", script: nil, interpreter: nil, timeoutSeconds: 60, expiresSeconds: 600))
        let clock = ContinuousClock(), killed = clock.now
        cluster.kill(node: victim)
        var timeline = FailoverTimeline(agents: perNode, queued: batch.commands.count)
        var summary: BatchSummaryView?
        try await benchWait("the \(perNode) agents of killed node \(victim + 1) to reconnect elsewhere and their \(batch.commands.count) queued commands to finish",
                            timeout: options.failoverTimeout, every: 0.1) {
            let seen = try await node.api.batchSummary(batch.batchId)
            let now = counters()
            summary = seen
            timeline.observe(at: (clock.now - killed).seconds, reconnected: now.welcomes - base.welcomes, delivered: now.received - base.received, done: seen.terminal)
            return timeline.isComplete
        }
        let split = cluster.cpu().since(before)
        let after = counters()
        results.failover = .init(nodes: cluster.nodes.count, timeline: timeline, succeeded: summary?.states["succeeded"] ?? 0,
                                 received: after.received - base.received, duplicates: after.duplicates - base.duplicates, split: split)
        results.spent.append(.init(phase: "failover: kill to all back and done, \(perNode) agents", split: split))
        if let profile = try await cluster.endProfile(since: profileStart, label: "failover, \(perNode) agents back and their commands done (per agent)", commands: perNode) {
            results.profiles.append(profile)
        }
    }
}
