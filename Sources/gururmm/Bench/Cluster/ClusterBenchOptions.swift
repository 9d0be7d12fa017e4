/// What `gururmm bench --cluster` measures, and at which sizes.
struct ClusterBenchOptions {
    /// One of the cluster benchmark's phases, selectable with `--phases`.
    enum Phase: String, CaseIterable {
        case fanout, rtt, idle, scale, failover
    }

    /// A fan-out configuration: one SQLite node (`nil`), or this many PostgreSQL nodes.
    typealias Configuration = Int?

    var phases: [Phase] = Phase.allCases
    var configurations: [Configuration] = [nil, 1, 2, 3]
    var fanOutAgents = 10_000
    var fanOutRepeats = 3
    var throughputSeconds = 20.0
    var roundTrips = 300
    var idleNodes = 3
    var idleAgents = 10_000
    var idleSeconds = 60.0
    var scaleAgents = 50_000
    var scaleSeconds = 30.0
    var failoverNodes = 3
    var failoverAgents = 5_000
    var failoverTimeout = 120.0
    var perSimulator = 10_000
}
