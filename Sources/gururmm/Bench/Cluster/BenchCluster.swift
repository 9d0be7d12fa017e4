import Foundation

/// Server nodes on one store (SQLite: one node; PostgreSQL: one or more sharing a database) and
/// the fleet simulators whose agents they hold, started from this binary.
final class BenchCluster {
    /// A simulator process and the node its agents connect to first.
    struct Simulator {
        var child: BenchChild
        var node: Int
        var agents: Int
        var prefix: String
    }

    let directory: String
    let storeURL: String?
    private(set) var nodes: [BenchServer] = []
    private(set) var simulators: [Simulator] = []
    private let postgres: BenchPostgres?
    private var enrollToken: String?
    /// The last CPU seconds read for each node (a killed node keeps what it used until then).
    private var lastNodeCPU: [Double] = []

    /// Starts `count` nodes: on a new database of `postgres`, or one SQLite node without it.
    init(directory: String, nodes count: Int, postgres: BenchPostgres?) async throws {
        self.directory = directory
        self.postgres = postgres
        storeURL = try await postgres?.createDatabase("bench")
        do {
            for index in 1...count { try await addNode(index) }
        } catch {
            await stop()
            throw error
        }
    }

    private func addNode(_ index: Int) async throws {
        let home = directory + "/node\(index)"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        var store: [String] = []
        if let storeURL { store = ["--store", storeURL, "--node-name", "n\(index)"] }
        if index > 1, let first = nodes.first {
            // A joining node starts from a copy of the first node's keys, as an operator does it.
            let export = try BenchChild(name: "export-keys", arguments: ["cluster", "export-keys", "--data-dir", first.directory + "/data", "--out", home + "/data"],
                                        logPath: home + "/export-keys.log")
            try await benchWait("`cluster export-keys` for node \(index)", timeout: 60, every: 0.05) { !export.isRunning }
            guard export.process.terminationStatus == 0 else { throw BenchError("cluster export-keys failed: \(export.log.suffix(2000))") }
        }
        nodes.append(try await BenchServer(directory: home, extraArguments: store))
        lastNodeCPU.append(0)
    }

    /// Starts a statement profile of this cluster's database (nil on SQLite).
    func beginProfile() async throws -> (commits: Int, walSyncs: Int)? {
        guard let postgres, let storeURL else { return nil }
        return try await postgres.beginProfile(url: storeURL)
    }

    /// The statement profile since `beginProfile` (nil on SQLite).
    func endProfile(since start: (commits: Int, walSyncs: Int)?, label: String, commands: Int) async throws -> PostgresStatementProfile? {
        guard let postgres, let storeURL, let start else { return nil }
        return try await postgres.endProfile(url: storeURL, since: start, label: label, commands: commands)
    }

    /// Node 1: where the bench makes its API calls.
    var first: BenchServer {
        get throws {
            guard let node = nodes.first else { throw BenchError("the cluster has no node") }
            return node
        }
    }

    /// Starts simulators for `count` agents that connect to `node` first (knowing every node, to
    /// move on failure), at most `perSimulator` each; returns their indexes in `simulators`.
    @discardableResult
    func addAgents(_ count: Int, node: Int, perSimulator: Int, onlyThatNode: Bool = false, statusInterval: Double = 2) async throws -> [Int] {
        let token = try await token()
        var added: [Int] = [], left = count
        let urls = [nodes[node].ready.agentUrl] + (onlyThatNode ? [] : nodes.indices.filter { $0 != node }.map { nodes[$0].ready.agentUrl })
        while left > 0 {
            let size = min(perSimulator, left)
            let index = simulators.count + 1
            let prefix = "n\(node + 1)s\(index)-"
            let child = try BenchChild(name: "fleet-sim-\(index)", arguments: ["fleet-sim"] + urls.flatMap { ["--server", $0] } + [
                "--allow-plain", "--agents", String(size), "--enroll-token", token, "--state-dir", directory + "/sim-\(index)",
                "--name-prefix", prefix, "--log-level", "warning", "--json", "--status-interval", String(statusInterval),
            ], logPath: directory + "/sim-\(index).log")
            simulators.append(Simulator(child: child, node: node, agents: size, prefix: prefix))
            added.append(simulators.count - 1)
            left -= size
        }
        return added
    }

    /// `total` agents spread evenly over the nodes (the first nodes take the remainder).
    func spread(_ total: Int, perSimulator: Int, statusInterval: Double = 2) async throws {
        for node in nodes.indices {
            let share = total / nodes.count + (node < total % nodes.count ? 1 : 0)
            if share > 0 { try await addAgents(share, node: node, perSimulator: perSimulator, statusInterval: statusInterval) }
        }
    }

    /// Agents each node was given (by the simulators started for it).
    func agentsPerNode() -> [Int] {
        nodes.indices.map { node in simulators.filter { $0.node == node }.map(\.agents).reduce(0, +) }
    }

    /// Waits until `count` agents are connected (online or degraded: a new connection is degraded
    /// until its downlink is proven) as a node's fleet summary counts them — on a shared store
    /// the whole cluster's, from connections recorded as they are made — so the most any running
    /// node reports; seconds taken.
    @discardableResult
    func waitOnline(_ count: Int) async throws -> Double {
        let clock = ContinuousClock(), started = clock.now
        try await benchWait("\(count) agents online over the nodes", timeout: max(120, Double(count) / 50), every: 0.5) {
            for simulator in self.simulators where !simulator.child.isRunning {
                throw BenchError("\(simulator.child.name) exited:\n\(simulator.child.exitReport)")
            }
            var connected = 0
            for node in self.nodes where node.child.isRunning {
                let fleet = try await node.fleet()
                connected = max(connected, fleet.online + fleet.degraded)
            }
            return connected >= count
        }
        return (clock.now - started).seconds
    }

    private func token() async throws -> String {
        if let enrollToken { return enrollToken }
        let created = try await first.api.createEnrollmentToken(expiresSeconds: 86_400, uses: 100_000)
        guard let token = created.token else { throw BenchError("the server returned no enrollment token") }
        enrollToken = token
        return token
    }

    /// CPU seconds used so far by each node, PostgreSQL and the simulators.
    func cpu() -> CPUSample {
        for (index, node) in nodes.enumerated() {
            if let stats = node.stats() { lastNodeCPU[index] = stats.cpuSeconds }
        }
        let simulatorSeconds = simulators.compactMap { ProcessStats.read(pid: $0.child.pid)?.cpuSeconds }.reduce(0, +)
        return CPUSample(at: ContinuousClock().now, nodes: lastNodeCPU, postgres: postgres?.cpuSeconds(), simulators: simulatorSeconds)
    }

    /// SIGKILLs node `index` (zero-based).
    func kill(node index: Int) {
        nodes[index].child.crash()
    }

    /// Stops every simulator and node, and drops the database.
    func stop() async {
        for simulator in simulators { await simulator.child.stop() }
        for node in nodes { await node.child.stop() }
        if let storeURL { await postgres?.dropDatabase(url: storeURL) }
    }
}

/// CPU seconds used so far, per part of the system, read at one moment.
struct CPUSample {
    var at: ContinuousClock.Instant
    var nodes: [Double]
    var postgres: Double?
    var simulators: Double

    /// What each part used between `earlier` and this sample.
    func since(_ earlier: CPUSample) -> CPUSplit {
        CPUSplit(wallSeconds: (at - earlier.at).seconds, nodes: zip(nodes, earlier.nodes).map { $0 - $1 },
                 postgres: postgres.flatMap { now in earlier.postgres.map { now - $0 } }, simulators: simulators - earlier.simulators)
    }
}

/// CPU seconds over one window: where the time went.
struct CPUSplit {
    var wallSeconds: Double
    var nodes: [Double]
    var postgres: Double?
    var simulators: Double

    var allNodes: Double { nodes.reduce(0, +) }
}
