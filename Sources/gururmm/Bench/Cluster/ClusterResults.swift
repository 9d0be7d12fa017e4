import Foundation

/// What one `gururmm bench --cluster` run measured, rendered as Markdown tables.
struct ClusterResults {
    struct FanOut {
        var label: String
        var sqlite: Bool
        var nodes: Int
        var agents: Int
        var onlineSeconds: Double
        var fanOutSeconds: Double
        var succeeded: Int
        var perSecond: Double
        var commands: Int
        var failed: Int
        /// CPU over the throughput window.
        var split: CPUSplit
    }
    struct RoundTrip { var path: String; var samples: Percentiles }
    struct IdleNode { var agents: Int; var baselineBytes: Int; var residentBytes: Int; var openFiles: Int?; var cpuSeconds: Double }
    struct IdleFleet { var label: String; var agents: Int; var simulators: Int; var onlineSeconds: Double; var nodes: [IdleNode]; var split: CPUSplit }
    struct Failover { var nodes: Int; var timeline: FailoverTimeline; var succeeded: Int; var received: Int; var duplicates: Int; var split: CPUSplit }
    /// One phase's wall time and CPU split (PostgreSQL's is nil on a SQLite node, or if /proc could not be read).
    struct Spent { var phase: String; var split: CPUSplit }

    var machine = ""
    var directory = ""
    var fanOut: [FanOut] = []
    var roundTrips: [RoundTrip] = []
    var idle: [IdleFleet] = []
    var failover: Failover?
    var spent: [Spent] = []
    /// Where each PostgreSQL fan-out configuration's database time went.
    var profiles: [PostgresStatementProfile] = []
    var notes: [String] = []

    /// The p99 the cross-node round trip must stay under, and the failover's bound, in the issue's terms.
    static let roundTripTarget = 20.0
    static let failoverTarget = 15.0

    func render() -> String {
        var lines = ["Cluster benchmark run \(ISO8601DateFormatter().string(from: Date())) on \(machine); PostgreSQL with fsync = on, synchronous_commit = on", ""]
        if !fanOut.isEmpty { lines += renderFanOut() + [""] }
        if !roundTrips.isEmpty { lines += renderRoundTrips() + [""] }
        if !idle.isEmpty { lines += renderIdle() + [""] }
        if let failover { lines += render(failover) + [""] }
        if !spent.isEmpty { lines += renderSpent() + [""] }
        for profile in profiles { lines += profile.render() + [""] }
        lines += notes.map { "- \($0)" }
        lines.append("- node, simulator and PostgreSQL logs: \(directory)")
        return lines.joined(separator: "\n")
    }

    private func renderFanOut() -> [String] {
        var lines = ["| store, nodes | agents | fan-out (POST to node 1 → batch done) | × SQLite | throughput | × SQLite | server CPU per command, all nodes | × SQLite | PostgreSQL CPU per command | simulators CPU per command | not succeeded |",
                     "|---|---|---|---|---|---|---|---|---|---|---|"]
        let reference = fanOut.first { $0.sqlite }
        func perCommand(_ seconds: Double?, _ row: FanOut) -> Double? { seconds.map { $0 / Double(max(row.commands, 1)) } }
        for row in fanOut {
            let cpu = perCommand(row.split.allNodes, row)
            let referenceCPU = reference.flatMap { perCommand($0.split.allNodes, $0) }
            let postgres = perCommand(row.split.postgres, row)
            lines.append("| \(row.label) | \(row.agents) (online in \(Self.seconds(row.onlineSeconds))) | \(Self.seconds(row.fanOutSeconds)) | \(Self.ratio(row.fanOutSeconds, reference?.fanOutSeconds)) "
                + "| \(Int(row.perSecond)) commands/s | \(Self.ratio(row.perSecond, reference?.perSecond)) | **\(Self.micro(cpu))** | \(Self.ratio(cpu, referenceCPU)) "
                + "| \(postgres.map { Self.micro($0) } ?? "—") | \(Self.micro(perCommand(row.split.simulators, row))) | \(row.agents - row.succeeded) of \(row.agents) in fan-outs, \(row.failed) of \(row.commands) in throughput |")
        }
        return lines
    }

    private func renderRoundTrips() -> [String] {
        var lines = ["| command round trip (one at a time, kept-alive API connection to node 1) | samples | p50 | p99 | max | × same-node p50 | target | verdict |",
                     "|---|---|---|---|---|---|---|---|"]
        let same = roundTrips.first?.samples.p50
        for (index, row) in roundTrips.enumerated() {
            let cross = index > 0
            lines.append("| \(row.path) | \(row.samples.count) | \(Self.milli(row.samples.p50)) | \(Self.milli(row.samples.p99)) | \(Self.milli(row.samples.max)) "
                + "| \(cross ? Self.ratio(row.samples.p50, same) : "1.0×") | \(cross ? "p99 < \(Int(Self.roundTripTarget)) ms" : "—") "
                + "| \(cross ? Self.below(row.samples.p99, Self.roundTripTarget) : "—") |")
        }
        return lines
    }

    private func renderIdle() -> [String] {
        var lines = ["| idle fleet | node | agents held | memory per agent | resident | open files | CPU (% of one core) |", "|---|---|---|---|---|---|---|"]
        for fleet in idle {
            let name = "\(fleet.label): \(fleet.agents) agents, \(fleet.simulators) simulators, online in \(Self.seconds(fleet.onlineSeconds))"
            for (index, node) in fleet.nodes.enumerated() {
                let perAgent = Double(node.residentBytes - node.baselineBytes) / Double(max(node.agents, 1))
                lines.append("| \(name) | n\(index + 1) | \(node.agents) | \(String(format: "%.1f KiB", perAgent / 1024)) | \(node.residentBytes / 1_048_576) MiB (from \(node.baselineBytes / 1_048_576) MiB) "
                    + "| \(node.openFiles.map(String.init) ?? "?") | \(Self.percent(node.cpuSeconds, fleet.split.wallSeconds)) |")
            }
            lines.append("| \(name) | PostgreSQL (all processes) | — | — | — | — | \(fleet.split.postgres.map { Self.percent($0, fleet.split.wallSeconds) } ?? "—") |")
            lines.append("| \(name) | simulators (all) | — | — | — | — | \(Self.percent(fleet.split.simulators, fleet.split.wallSeconds)) |")
        }
        return lines
    }

    private func render(_ failover: Failover) -> [String] {
        let timeline = failover.timeline
        func at(_ time: Double?) -> String { time.map { String(format: "%.2f s", $0) } ?? "not seen" }
        let verdict = timeline.backAndDone.map { Self.below($0, Self.failoverTarget) } ?? "**missed**: not back"
        return [
            "| failover: SIGKILL to 1 of \(failover.nodes) nodes holding \(timeline.agents) agents, \(timeline.queued) commands queued for them on node 1 | after the kill | target | verdict |",
            "|---|---|---|---|",
            "| first agent reconnected to another node | \(at(timeline.firstReconnected)) | — | — |",
            "| all \(timeline.agents) agents reconnected (simulators' welcomes, status every 0.5 s) | \(at(timeline.allReconnected)) | — | — |",
            "| every queued command received by its agent | \(at(timeline.allDelivered)) | — | — |",
            "| first / half / all queued commands done | \(at(timeline.firstDone)) / \(at(timeline.halfDone)) / \(at(timeline.allDone)) | — | — |",
            "| back and done | \(at(timeline.backAndDone)) | < \(Int(Self.failoverTarget)) s | \(verdict) |",
            "| outcome | \(failover.succeeded)/\(timeline.queued) succeeded; agents ran \(failover.received) (once each), \(failover.duplicates) redeliveries acked as duplicates | none lost or doubled | \(failover.succeeded == timeline.queued && failover.received == timeline.queued ? "met" : "**missed**") |",
        ]
    }

    private func renderSpent() -> [String] {
        var lines = ["| where the time goes | wall | server nodes CPU (n1 / n2 / …) | PostgreSQL CPU | simulators CPU | cores busy |", "|---|---|---|---|---|---|"]
        for row in spent {
            let split = row.split
            let total = split.allNodes + (split.postgres ?? 0) + split.simulators
            lines.append("| \(row.phase) | \(Self.seconds(split.wallSeconds)) | \(Self.seconds(split.allNodes)) (\(split.nodes.map { String(format: "%.2f", $0) }.joined(separator: " / "))) "
                + "| \(split.postgres.map { Self.seconds($0) } ?? "—") | \(Self.seconds(split.simulators)) | \(String(format: "%.2f", total / max(split.wallSeconds, 1e-9))) |")
        }
        return lines
    }

    private static func seconds(_ value: Double) -> String { String(format: "%.2f s", value) }
    private static func milli(_ value: Double) -> String { String(format: "%.2f ms", value) }
    private static func micro(_ value: Double?) -> String { value.map { String(format: "%.0f µs", $0 * 1e6) } ?? "?" }
    private static func percent(_ cpu: Double, _ wall: Double) -> String { String(format: "%.1f%%", cpu / max(wall, 1e-9) * 100) }
    private static func ratio(_ value: Double?, _ reference: Double?) -> String {
        guard let value, let reference, reference > 0 else { return "—" }
        return String(format: "%.2f×", value / reference)
    }
    private static func below(_ value: Double, _ limit: Double) -> String {
        value < limit ? "met" : "**missed** by \(String(format: "%.1f", value / limit))×"
    }
}
