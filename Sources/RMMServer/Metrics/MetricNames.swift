import Prometheus

/// Every metric's name and help text, in one place (docs/metrics.md lists the same). Names follow
/// Prometheus' conventions: the `gururmm_` prefix, base units (`_seconds`), `_total` on counters.
enum MetricName {
    static let namespace = "gururmm"

    static var agents: MetricNameDescriptor { descriptor("agents", unit: "", help: "Agents by status, for the whole cluster: the same counts as GET /api/v1/fleet (on a shared store, online and degraded come from the store's liveness).") }
    static var nodeSessions: MetricNameDescriptor { descriptor("node_sessions", unit: "", help: "This node's connected agent sessions by status and downlink mode.") }
    static var commands: MetricNameDescriptor { descriptor("commands", unit: "total", help: "Commands this node ended, by terminal state.") }
    static var dispatchToResult: MetricNameDescriptor { descriptor("command_dispatch_to_result", unit: "seconds", help: "From a command's creation to the agent's result this node stored.") }
    static var sentToDelivered: MetricNameDescriptor { descriptor("command_sent_to_delivered", unit: "seconds", help: "From this node's last write of a command's frame to the agent's acknowledgement of it.") }
    static var pongRTT: MetricNameDescriptor { descriptor("pong_rtt", unit: "seconds", help: "Round trip of this node's WebSocket pings to its agents (one sample per pong seen at a session tick).") }
    static var verdicts: MetricNameDescriptor { descriptor("link_verdicts", unit: "total", help: "Link verdicts this node's sessions recorded, by verdict and source.") }
    static var reconnects: MetricNameDescriptor { descriptor("agent_reconnects", unit: "total", help: "Sessions attached on this node by agents that had connected before (a connection epoch above 1).") }
    static var closes: MetricNameDescriptor { descriptor("agent_connection_closes", unit: "total", help: "Authenticated agent connections on this node that ended, by close code and by who closed them.") }
    static var storeCommit: MetricNameDescriptor { descriptor("store_commit_duration", unit: "seconds", help: "Duration of each store transaction this node committed, by backend.") }
    static var refused: MetricNameDescriptor { descriptor("connections_refused", unit: "total", help: "Connections this node refused, by the limit that refused them.") }

    // Computed: swift-prometheus' descriptor is not `Sendable`, so it cannot be a shared constant.
    private static func descriptor(_ name: String, unit: String, help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: namespace, metricName: name, unitName: unit, helpText: help)
    }

    /// Histogram buckets, in seconds.
    enum Buckets {
        static let dispatchToResult: [Double] = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600]
        static let sentToDelivered: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
        static let pongRTT: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]
        static let storeCommit: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]
    }
}
