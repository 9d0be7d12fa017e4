import Foundation

/// What one benchmark run measured, and its Markdown table.
struct BenchResults {
    struct FanOut { var agents: Int; var requested: Int; var seconds: Double; var succeeded: Int }
    struct Idle { var agents: Int; var bytesPerAgent: Double; var cpuPercent: Double; var residentBytes: Int }
    struct Throughput {
        var perSecond: Double
        var commands: Int
        var failed: Int
        var agents: Int
        /// CPU seconds per command over the window (nil if /proc could not be read).
        var serverCPUPerCommand: Double?
        var simulatorCPUPerCommand: Double?
    }
    /// One `run --all -- true` process beside the API-level fan-out to the same fleet.
    struct Operator {
        var agents: Int
        var apiSeconds: Double
        var cliSeconds: Double
        var cliStatus: Int32
        /// The old CLI's extra requests alone: one GET per command, in sequence.
        var perCommandSeconds: Double
        /// Per pair (an API fan-out, then a `run --all` process): the CLI's seconds minus the API's.
        var added: [Double]
        /// The server's CPU seconds (median) over an API fan-out and over a `run --all` process.
        var serverCPUOverAPI: Double?
        var serverCPUOverCLI: Double
        var oldCliSeconds: Double?
        var oldCliStatus: Int32?
    }
    struct Storm { var agents: Int; var restartSeconds: Double; var backSeconds: Double; var doneSeconds: Double; var queued: Int; var succeeded: Int; var duplicateRuns: Int }

    var machine = ""
    var directory = ""
    var echo: Percentiles?
    var sync: Percentiles?
    var command: Percentiles?
    var baselineBytes: Int?
    var onlineSeconds: [Int: Double] = [:]
    var fanOut: [FanOut] = []
    var operatorPath: [Operator] = []
    var lineCodec: LineCodecCost.Result?
    var idle: Idle?
    var throughput: Throughput?
    var storm: Storm?
    var notes: [String] = []

    func render() -> String {
        var lines = ["Benchmark run \(ISO8601DateFormatter().string(from: Date())) on \(machine)", ""]
        lines.append("| # | measurement | result | target | verdict |")
        lines.append("|---|---|---|---|---|")
        if let echo, let command {
            let ratio = command.p50 / echo.p50
            lines.append("| 1 | command round trip (POST → result persisted → long-poll answer, one kept-alive API connection), \(command.count) samples | p50 \(ms(command.p50)), p99 \(ms(command.p99)), max \(ms(command.max)) | p50 ≤ 3× echo, p99 < 5 ms | p50 \(atMost(ratio, 3)), p99 \(below(command.p99, 5)) |")
            lines.append("| 1 | bare WebSocket text echo, same machine, same run, \(echo.count) samples | p50 \(ms(echo.p50)), p99 \(ms(echo.p99)); command/echo p50 ratio \(String(format: "%.1f", ratio))× | — | — |")
            if let sync {
                lines.append("| 1 | disk: 4 KiB append + fdatasync in the data directory (one durable commit), \(sync.count) samples | p50 \(ms(sync.p50)), p99 \(ms(sync.p99)); a command's path has \(Self.commitsPerRoundTrip) commits | — | — |")
            }
        }
        for row in fanOut {
            let perThousand = row.seconds / Double(row.agents) * 1000
            let online = onlineSeconds[row.agents].map { String(format: "; fleet online in %.1f s", $0) } ?? ""
            let target = row.agents >= 10_000 && row.agents <= 10_500 ? "10k in < 1 s, linear in N" : "linear in N"
            // Linear: the cost per agent does not grow with the fleet (within this VM's noise).
            var linear: String?
            if let smallest = fanOut.first, smallest.agents < row.agents {
                let growth = perThousand / (smallest.seconds / Double(smallest.agents) * 1000)
                linear = "linear: \(atMost(growth, Self.linearSlack)) (per 1k \(String(format: "%.2f", growth))× the \(smallest.agents)-agent fan-out's)"
            }
            let pass = row.agents >= 10_000 && row.agents <= 10_500
                ? below(row.seconds, 1) + (linear.map { "; \($0)" } ?? "")
                : linear ?? "—"
            lines.append("| 2 | fan-out to \(row.agents) agents\(row.requested != row.agents ? " (asked \(row.requested))" : "") | \(String(format: "%.2f s", row.seconds)) (\(String(format: "%.3f", perThousand)) s per 1k), \(row.succeeded)/\(row.agents) succeeded\(online) | \(target) | \(pass) |")
        }
        for row in operatorPath {
            let added = median(row.added)
            let each = row.added.map { String(format: "%.2f", $0) }.joined(separator: ", ")
            var result = String(format: "medians of %d pairs: CLI process %.2f s (exit %d), API fan-out %.2f s: the CLI adds %.2f s",
                                row.added.count, row.cliSeconds, row.cliStatus, row.apiSeconds, added)
                + " (each pair: \(each) s)"
                + String(format: "; server CPU %.2f s over a CLI run", row.serverCPUOverCLI)
                + (row.serverCPUOverAPI.map { String(format: ", %.2f s over an API fan-out", $0) } ?? "")
                + String(format: "; the old path's %d per-command GETs alone took %.2f s", row.agents, row.perCommandSeconds)
            if let old = row.oldCliSeconds {
                result += String(format: "; compared CLI %.2f s (exit %d), %.1f× the CLI's time", old, row.oldCliStatus ?? -1, old / max(row.cliSeconds, 1e-9))
            }
            lines.append("| 6 | operator path: a `gururmm run --all -- true` process, \(row.agents) agents | \(result) | CLI adds ≤ 0.2 s | \(atMost(added, 0.2)) |")
        }
        if let codec = lineCodec {
            let foundation = codec.foundationEncode + codec.foundationDecode, fast = codec.fastEncode + codec.fastDecode
            let result = String(format: "Foundation %.1f µs write + %.1f µs read; fast path %.1f + %.1f µs: %.1f× less per line (%.2f s → %.2f s for all)",
                                codec.foundationEncode * 1e6, codec.foundationDecode * 1e6, codec.fastEncode * 1e6, codec.fastDecode * 1e6,
                                foundation / max(fast, 1e-12), foundation * Double(codec.lines), fast * Double(codec.lines))
            lines.append("| 6 | one streamed batch line, written (server) and read (CLI): \(codec.lines) lines as for 10,000 agents, same process | \(result) | — | — |")
        }
        if let throughput {
            var cpu = ""
            if let server = throughput.serverCPUPerCommand, let simulators = throughput.simulatorCPUPerCommand {
                cpu = String(format: "; CPU per command: server %.0f µs, simulators %.0f µs", server * 1e6, simulators * 1e6)
            }
            lines.append("| 3 | sustained throughput, fan-outs to \(throughput.agents) agents back to back | \(Int(throughput.perSecond)) commands/s (\(throughput.commands) commands, \(throughput.failed) not succeeded\(cpu)) | ≥ 20,000/s | \(atLeast(throughput.perSecond, 20_000)) |")
        }
        if let idle {
            lines.append("| 4 | idle fleet of \(idle.agents): server memory per agent | \(String(format: "%.1f KiB", idle.bytesPerAgent / 1024)) (RSS \(idle.residentBytes / 1_048_576) MiB, baseline \((baselineBytes ?? 0) / 1_048_576) MiB) | ≤ 20 KiB | \(atMost(idle.bytesPerAgent, 20 * 1024)) |")
            lines.append("| 4 | idle fleet of \(idle.agents): server CPU | \(String(format: "%.1f%%", idle.cpuPercent)) of one core | < 10% | \(below(idle.cpuPercent, 10)) |")
        }
        if let storm {
            let stormVerdict = storm.succeeded == storm.queued
                ? below(storm.backSeconds, 30) : "**missed**: \(storm.queued - storm.succeeded) of \(storm.queued) queued did not succeed"
            lines.append("| 5 | reconnect storm: SIGKILL + restart under \(storm.agents) agents | server up in \(String(format: "%.1f", storm.restartSeconds)) s, all back online \(String(format: "%.1f", storm.backSeconds)) s after the kill, queued batch done at \(String(format: "%.1f", storm.doneSeconds)) s; \(storm.succeeded)/\(storm.queued) succeeded, \(storm.duplicateRuns) redeliveries acked as duplicates (none run twice) | < 30 s, none lost or doubled | \(stormVerdict) |")
        }
        lines.append("")
        lines += notes.map { "- \($0)" }
        lines.append("- server and simulator logs: \(directory)")
        return lines.joined(separator: "\n")
    }

    /// Durable commits a lone command to a connected agent waits for on its way: the insert (with
    /// `sent` and the audit entry), then the agent's ack and its started + result (one write
    /// when all three arrive together, two when the ack is stored before the rest arrives).
    static let commitsPerRoundTrip = "2–3"

    private func ms(_ value: Double) -> String { String(format: "%.2f ms", value) }
    /// "met", or "**missed**" and by how much, for a `value` that must stay at or below `limit`.
    private func atMost(_ value: Double, _ limit: Double) -> String {
        value <= limit ? "met" : "**missed** by \(String(format: "%.1f", value / limit))×"
    }

    /// The same for a `value` that must stay under `limit`.
    private func below(_ value: Double, _ limit: Double) -> String {
        value < limit ? "met" : "**missed** by \(String(format: "%.1f", value / limit))×"
    }

    /// The same for a `value` that must reach `floor`.
    private func atLeast(_ value: Double, _ floor: Double) -> String {
        value >= floor ? "met" : "**missed** by \(String(format: "%.1f", floor / max(value, 1e-9)))×"
    }

    /// How much more a larger fleet's fan-out may cost per agent than the smallest's and still
    /// count as linear: runs on a shared VM move ±20%.
    static let linearSlack = 1.5
}

/// The machine a run happened on, for the record.
enum BenchMachine {
    static func describe() -> String {
        let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("model name") }?
            .split(separator: ":", maxSplits: 1).last?.trimmingCharacters(in: .whitespaces) ?? "unknown CPU"
        let memory = (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("MemTotal") }?
            .split(separator: " ").dropFirst().first.flatMap { Int($0) }.map { "\($0 / 1_048_576) GiB" } ?? "? GiB"
        var uts = utsname()
        uname(&uts)
        let kernel = withUnsafeBytes(of: &uts.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        #if DEBUG
        let build = "debug build"
        #else
        let build = "release build"
        #endif
        return "\(ProcessInfo.processInfo.activeProcessorCount) cores (\(cpu)), \(memory), Linux \(kernel), \(build)"
    }
}

/// The counters of the last status line a `fleet-sim --json` process printed
/// (`{"kind": "status"|"summary", "stats": {...}}`).
struct BenchSimulatorStats: Decodable {
    var duplicates: Int
    var commandsReceived: Int
    var resultsSent: Int
    var connected: Int
    var welcomes: Int

    private struct Line: Decodable { var stats: BenchSimulatorStats }

    static func latest(in log: String) -> BenchSimulatorStats? {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        for line in log.split(separator: "\n").reversed() where line.hasPrefix("{") {
            if let parsed = try? decoder.decode(Line.self, from: Data(line.utf8)) { return parsed.stats }
        }
        return nil
    }
}
