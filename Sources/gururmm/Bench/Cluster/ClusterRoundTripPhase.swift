import Foundation

extension ClusterBench {
    /// One command at a time, posted on node 1 and long-polled there until done: to an agent on
    /// node 1, and to one on node 2 (the cross-node path: node 2 sends and stores, node 1's
    /// long-poll wakes on the change).
    mutating func roundTrips(_ cluster: BenchCluster) async throws {
        try await cluster.addAgents(1, node: 0, perSimulator: 1, onlyThatNode: true)
        try await cluster.addAgents(1, node: 1, perSimulator: 1, onlyThatNode: true)
        try await cluster.waitOnline(2)
        let node = try cluster.first
        let agents = try await node.api.agents()
        func agent(on index: Int) throws -> String {
            let prefix = "n\(index + 1)s"
            guard let found = agents.first(where: { $0.name.hasPrefix(prefix) }) else { throw BenchError("no agent named \(prefix)… among \(agents.map(\.name))") }
            return found.id
        }
        for (index, path) in [(0, "same node: agent on node 1, posted on node 1"), (1, "cross-node: agent on node 2, posted on node 1")] {
            note("round trips, \(path): \(options.roundTrips)")
            let before = cluster.cpu()
            let samples = try await BenchMeasurements.commandRoundTrips(node, agent: try agent(on: index), count: options.roundTrips)
            results.spent.append(.init(phase: "round trips, \(path), \(options.roundTrips + options.roundTrips / 10) commands", split: cluster.cpu().since(before)))
            results.roundTrips.append(.init(path: path, samples: samples))
        }
    }
}
