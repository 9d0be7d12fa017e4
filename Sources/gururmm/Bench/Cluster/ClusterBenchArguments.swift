import ArgumentParser
import Foundation

/// The options of `gururmm bench --cluster`: several server nodes on a PostgreSQL the bench starts
/// (fsync and synchronous commits on) beside one SQLite node, with simulated fleets. The bench's
/// --round-trips, --throughput-seconds, --idle-seconds, --per-simulator, --work-dir and --out apply too.
struct ClusterBenchArguments: ParsableArguments {
    @Flag(name: .customLong("cluster"), help: "Instead of the single-server measurements: fan-out and throughput on 1–3 PostgreSQL nodes beside one SQLite node, cross-node round trips, idle cost, a large idle fleet and a killed node's recovery, on a PostgreSQL the bench starts.")
    var enabled = false

    @Option(name: .customLong("phases"), help: "With --cluster: which phases, comma-separated: fanout, rtt, idle, scale, failover.")
    var phases = ClusterBenchOptions.Phase.allCases.map(\.rawValue).joined(separator: ",")

    @Option(name: .customLong("configurations"), help: "With --cluster: fan-out configurations, comma-separated: sqlite (one SQLite node) or a number of PostgreSQL nodes.")
    var configurations = "sqlite,1,2,3"

    @Option(name: .customLong("agents"), help: "With --cluster: agents for the fan-out and throughput, spread evenly over the nodes. With --console: the idle fleet's size.")
    var agents = 10_000

    @Option(name: .customLong("fanout-repeats"), help: "With --cluster: fan-outs timed per configuration after a warm-up (the median is reported).")
    var fanOutRepeats = 3



    @Option(name: .customLong("idle-nodes"), help: "With --cluster: postgreSQL nodes for the idle-cost phase.")
    var idleNodes = 3

    @Option(name: .customLong("idle-agents"), help: "With --cluster: agents for the idle-cost phase.")
    var idleAgents = 10_000


    @Option(name: .customLong("scale-agents"), help: "With --cluster: idle agents on three PostgreSQL nodes for the scale phase.")
    var scaleAgents = 50_000

    @Option(name: .customLong("scale-seconds"), help: "With --cluster: how long to watch the scale phase's idle fleet.")
    var scaleSeconds = 30.0

    @Option(name: .customLong("failover-nodes"), help: "With --cluster: nodes in the failover phase (2 or 3); the last is killed.")
    var failoverNodes = 3

    @Option(name: .customLong("failover-agents"), help: "With --cluster: agents each node holds in the failover phase (the killed node's are measured).")
    var failoverAgents = 5_000

    @Option(name: .customLong("failover-timeout"), help: "With --cluster: seconds to wait after the kill before the phase fails.")
    var failoverTimeout = 120.0


    @Option(name: .customLong("postgres-bin"), help: "With --cluster: directory with PostgreSQL's initdb, postgres and psql (default: the newest /usr/lib/postgresql/N/bin, else PATH).")
    var postgresBinaries: String?



    /// The validated options, with the bench's shared ones.
    func options(roundTrips: Int, throughputSeconds: Double, idleSeconds: Double, perSimulator: Int) throws -> ClusterBenchOptions {
        var options = ClusterBenchOptions()
        options.phases = try phases.split(separator: ",").map { name in
            guard let phase = ClusterBenchOptions.Phase(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("--phases: '\(name)' is not one of \(ClusterBenchOptions.Phase.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return phase
        }
        options.configurations = try configurations.split(separator: ",").map { text -> Int? in
            let name = text.trimmingCharacters(in: .whitespaces)
            if name == "sqlite" { return nil }
            guard let nodes = Int(name), (1...8).contains(nodes) else { throw ValidationError("--configurations: '\(name)' is neither sqlite nor 1 to 8 nodes") }
            return nodes
        }
        guard !options.phases.isEmpty, !options.configurations.isEmpty else { throw ValidationError("--phases and --configurations need at least one entry") }
        guard [agents, fanOutRepeats, idleAgents, scaleAgents, failoverAgents, perSimulator].allSatisfy({ $0 > 0 }), roundTrips >= 10 else {
            throw ValidationError("sizes and repeats must be positive, --round-trips at least 10")
        }
        guard [throughputSeconds, idleSeconds, scaleSeconds, failoverTimeout].allSatisfy({ $0.isFinite && $0 > 0 && $0 <= 3600 }) else {
            throw ValidationError("durations must be 0 to 3600 seconds")
        }
        guard (1...8).contains(idleNodes), (2...8).contains(failoverNodes) else { throw ValidationError("--idle-nodes must be 1 to 8, --failover-nodes 2 to 8") }
        options.fanOutAgents = agents
        options.fanOutRepeats = fanOutRepeats
        options.throughputSeconds = throughputSeconds
        options.roundTrips = roundTrips
        options.idleNodes = idleNodes
        options.idleAgents = idleAgents
        options.idleSeconds = idleSeconds
        options.scaleAgents = scaleAgents
        options.scaleSeconds = scaleSeconds
        options.failoverNodes = failoverNodes
        options.failoverAgents = failoverAgents
        options.failoverTimeout = failoverTimeout
        options.perSimulator = perSimulator
        return options
    }
}
