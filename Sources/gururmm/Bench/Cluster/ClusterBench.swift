import Foundation

/// One `gururmm bench --cluster` run: its own PostgreSQL, then each selected phase on clusters it
/// starts and stops, and the Markdown tables of what they measured.
struct ClusterBench {
    let directory: String
    let options: ClusterBenchOptions
    let postgresBinaries: String?
    var results = ClusterResults()

    init(directory: String, options: ClusterBenchOptions, postgresBinaries: String?) {
        self.directory = directory
        self.options = options
        self.postgresBinaries = postgresBinaries
    }

    /// Runs the phases in order; always stops what it started.
    mutating func execute() async throws -> String {
        results.machine = BenchMachine.describe()
        results.directory = directory
        let limit = BenchRun.raiseOpenFileLimit()
        results.notes.append("open-file limit per process: \(limit) (each node and each simulator is its own process, each below it)")
        let largestNode = max(options.scaleAgents / 3 + 1, options.idleAgents / options.idleNodes + 1, options.failoverAgents * 2, options.fanOutAgents)
        guard options.perSimulator + 100 < limit, largestNode + 100 < limit else {
            throw BenchError("the open-file limit (\(limit)) is too low for \(options.perSimulator) agents per simulator or \(largestNode) on one node: raise the hard limit (ulimit -Hn) or lower the sizes")
        }
        note("starting PostgreSQL (fsync = on, synchronous_commit = on)")
        let postgres = try await BenchPostgres(directory: directory + "/postgres", binaries: postgresBinaries)
        do {
            for phase in options.phases {
                try await run(phase, postgres: postgres)
            }
        } catch {
            await postgres.stop()
            // What the phases before the failure measured still counts.
            throw BenchError("\(error)\n(node, simulator and PostgreSQL logs in \(directory))\n\nMeasured before the failure:\n\(results.render())")
        }
        await postgres.stop()
        return results.render()
    }

    private mutating func run(_ phase: ClusterBenchOptions.Phase, postgres: BenchPostgres) async throws {
        switch phase {
        case .fanout:
            for configuration in options.configurations {
                try await withCluster("fanout-\(configuration.map { "pg\($0)" } ?? "sqlite")", nodes: configuration ?? 1,
                                      postgres: configuration == nil ? nil : postgres) { bench, cluster in
                    try await bench.fanOut(cluster, postgres: configuration != nil)
                }
            }
        case .rtt:
            try await withCluster("rtt", nodes: 2, postgres: postgres) { bench, cluster in try await bench.roundTrips(cluster) }
        case .idle:
            try await withCluster("idle", nodes: options.idleNodes, postgres: postgres) { bench, cluster in
                try await bench.idle(cluster, label: "idle", agents: bench.options.idleAgents, seconds: bench.options.idleSeconds)
            }
        case .scale:
            try await withCluster("scale", nodes: 3, postgres: postgres) { bench, cluster in
                try await bench.idle(cluster, label: "scale", agents: bench.options.scaleAgents, seconds: bench.options.scaleSeconds)
            }
        case .failover:
            try await withCluster("failover", nodes: options.failoverNodes, postgres: postgres) { bench, cluster in try await bench.failover(cluster) }
        }
    }

    /// Starts a cluster in its own directory, runs `body` on it, and stops it however `body` ends.
    private mutating func withCluster(_ name: String, nodes: Int, postgres: BenchPostgres?,
                                      _ body: (inout ClusterBench, BenchCluster) async throws -> Void) async throws {
        note("\(name): starting \(nodes) node(s) on \(postgres == nil ? "SQLite" : "PostgreSQL")")
        let cluster = try await BenchCluster(directory: directory + "/" + name, nodes: nodes, postgres: postgres)
        do {
            try await body(&self, cluster)
        } catch {
            // A node that exited on its own is usually why: say which, and its last words.
            let exited = cluster.nodes.enumerated().filter { !$0.element.child.isRunning }.map { index, node in
                "node n\(index + 1) had exited: \(node.child.log.split(separator: "\n").suffix(2).joined(separator: " / ").suffix(600))"
            }
            await cluster.stop()
            throw exited.isEmpty ? error : BenchError("\(name): \(error)\n" + exited.joined(separator: "\n"))
        }
        await cluster.stop()
    }

    func note(_ text: String) {
        FileHandle.standardError.write(Data("bench --cluster: \(text)\n".utf8))
    }
}
