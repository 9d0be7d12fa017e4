import Foundation

extension ClusterBench {
    /// Fan-out (POST to node 1 → batch done) to the whole fleet spread evenly over the nodes, the
    /// median of `fanOutRepeats` after one warm-up, then fan-outs back to back for the throughput
    /// and the CPU per command of every part.
    mutating func fanOut(_ cluster: BenchCluster, postgres: Bool) async throws {
        let agents = options.fanOutAgents, nodes = cluster.nodes.count
        let label = postgres ? "PostgreSQL, \(nodes) node\(nodes == 1 ? "" : "s")" : "SQLite, 1 node"
        note("fan-out \(label): \(agents) agents")
        try await cluster.spread(agents, perSimulator: options.perSimulator)
        let onlineSeconds = try await cluster.waitOnline(agents)
        let node = try cluster.first
        _ = try await BenchMeasurements.fanOut(node)
        var seconds: [Double] = [], succeeded = agents
        let fanOutStart = cluster.cpu()
        for round in 1...options.fanOutRepeats {
            note("fan-out \(label): \(round) of \(options.fanOutRepeats)")
            let (took, summary, _) = try await BenchMeasurements.fanOut(node)
            seconds.append(took)
            succeeded = min(succeeded, summary.states["succeeded"] ?? 0)
        }
        results.spent.append(.init(phase: "fan-out, \(label), \(options.fanOutRepeats) × \(agents) commands", split: cluster.cpu().since(fanOutStart)))
        note("throughput \(label): \(Int(options.throughputSeconds)) s")
        let profileStart = try await cluster.beginProfile()
        let before = cluster.cpu()
        let throughput = try await BenchMeasurements.throughput(node, seconds: options.throughputSeconds, inFlight: 2)
        let split = cluster.cpu().since(before)
        if let profile = try await cluster.endProfile(since: profileStart, label: "throughput, \(label)", commands: throughput.commands) {
            results.profiles.append(profile)
        }
        results.spent.append(.init(phase: "throughput, \(label), \(throughput.commands) commands", split: split))
        results.fanOut.append(.init(label: label, sqlite: !postgres, nodes: nodes, agents: agents, onlineSeconds: onlineSeconds,
                                    fanOutSeconds: median(seconds), succeeded: succeeded, perSecond: throughput.perSecond,
                                    commands: throughput.commands, failed: throughput.failed, split: split))
    }
}
