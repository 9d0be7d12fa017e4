import Foundation

extension ClusterBench {
    /// An idle fleet spread evenly over the nodes: each node's memory per agent it holds (over its
    /// resident size before any agent came), its open files, and every part's CPU over `seconds`.
    mutating func idle(_ cluster: BenchCluster, label: String, agents: Int, seconds: Double) async throws {
        let baseline = cluster.nodes.map { $0.stats()?.residentBytes ?? 0 }
        note("\(label): \(agents) agents on \(cluster.nodes.count) nodes, at most \(options.perSimulator) per simulator")
        try await cluster.spread(agents, perSimulator: options.perSimulator, statusInterval: 5)
        let onlineSeconds = try await cluster.waitOnline(agents)
        note("\(label): idle for \(Int(seconds)) s")
        let before = cluster.cpu()
        try await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
        let split = cluster.cpu().since(before)
        let held = cluster.agentsPerNode()
        let nodes = cluster.nodes.enumerated().map { index, node in
            let stats = node.stats()
            return ClusterResults.IdleNode(agents: held[index], baselineBytes: baseline[index], residentBytes: stats?.residentBytes ?? 0,
                                           openFiles: ProcessTree.openFiles(pid: node.child.pid), cpuSeconds: split.nodes[index])
        }
        results.idle.append(.init(label: label, agents: agents, simulators: cluster.simulators.count, onlineSeconds: onlineSeconds, nodes: nodes, split: split))
        results.spent.append(.init(phase: "\(label): \(agents) idle agents, \(Int(seconds)) s", split: split))
    }
}
