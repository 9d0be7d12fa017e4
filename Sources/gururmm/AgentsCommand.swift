import ArgumentParser
import Foundation
import RMMAPI
import RMMProtocol

/// `gururmm agents`: list agents; evict, rename or revoke one.
struct AgentsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agents", abstract: "List and manage agents.",
        subcommands: [List.self, Evict.self, Rename.self, Revoke.self, Verdicts.self], defaultSubcommand: List.self
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List agents with status, liveness and metrics.",
            discussion: """
            With --watch the list is fetched again every --interval seconds: on a terminal it is \
            redrawn in place until Ctrl-C (exit 0); when standard output is not a terminal each \
            refresh is printed as a plain table under a line with its time, with no escape codes.
            """
        )
        @OptionGroup var api: APIOptions
        @Flag(name: .customLong("json"), help: "Print JSON.")
        var json = false
        @Flag(name: .customLong("watch"), help: "Refresh the list until interrupted.")
        var watch = false
        @Option(name: .customLong("interval"), help: "Seconds between refreshes with --watch (0.5...3600, default 2).")
        var interval: Double?

        func validate() throws {
            if let interval {
                guard watch else { throw ValidationError("--interval only applies with --watch") }
                guard interval.isFinite, (0.5...3600).contains(interval) else {
                    throw ValidationError("--interval must be a number of seconds from 0.5 to 3600 (got \(interval))")
                }
            }
            if watch && json { throw ValidationError("--watch prints tables; it does not combine with --json") }
        }

        func run() async throws {
            let client = try api.client()
            if watch {
                try await AgentsWatch(client: client, interval: interval ?? 2).run()
                return
            }
            let agents = try await client.agents()
            if json {
                try printJSON(agents)
                return
            }
            for line in Self.report(agents, now: Date()) { print(line) }
        }

        /// The table of `agents` and the notes under it, a line each.
        static func report(_ agents: [AgentView], now: Date) -> [String] {
            if agents.isEmpty {
                return ["No agents enrolled. Create a token with `gururmm enroll-token create` and start `gururmm agent`."]
            }
            var rows = [["ID", "NAME", "STATUS", "LAST SEEN", "CONNECTED", "DOWNLINK", "LINK", "VERSION", "OS", "CONFIG", "PONG", "CPU", "MEM", "DISK", "LOAD"]]
            for a in agents {
                let m = a.metrics
                rows.append([
                    a.id, a.name, a.status.rawValue, ago(a.lastSeenAt, now), ago(a.connectedSince, now), ago(a.lastDownlinkAt, now),
                    (a.verdict?.verdict.rawValue ?? a.linkVerdict?.rawValue ?? "-") + (a.downlinkMode.map { $0 == .text ? "" : " (\($0.rawValue))" } ?? ""),
                    a.version, a.os, "\(a.configVersionApplied.map(String.init) ?? "-")/\(a.configVersion)",
                    a.lastPongRttMs.map { String(format: "%.1fms", $0) } ?? "-",
                    m?.cpuPercent.map { String(format: "%.0f%%", $0) } ?? "-",
                    percent(m?.memoryUsedBytes, m?.memoryTotalBytes), percent(m?.diskUsedBytes, m?.diskTotalBytes),
                    m?.load1.map { String(format: "%.2f", $0) } ?? "-",
                ])
            }
            var lines = tableLines(rows)
            let format = ISO8601DateFormatter()
            for a in agents {
                if let v = a.verdict, v.verdict.isAdverse {
                    let origin = LinkProvenance.words(stage: v.stage, source: v.source)
                    lines.append("link: \(a.name): \(v.verdict.rawValue) since \(format.string(from: v.firstAt)) (\(origin)): \(v.summary)")
                }
                if let reason = a.downlinkReason, a.downlinkMode != .text { lines.append("downlink: \(a.name): \(reason)") }
            }
            for a in agents where a.status == .degraded {
                lines.append("note: \(a.name) is degraded: heard from, but it has not acknowledged a server frame since \(a.lastDownlinkAt.map { ago($0, now) + " ago" } ?? "it connected").")
            }
            return lines
        }
    }

    struct Evict: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Close an agent's session; it reconnects and nothing queued is lost.")
        @OptionGroup var api: APIOptions
        @Argument(help: "Agent id or name.")
        var agent: String

        func run() async throws {
            let answer = try await api.client().evictAgent(agent)
            print(answer.message)
        }
    }
}

extension AgentsCommand {
    struct Rename: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Give an agent a new name (unique, compared case-insensitively; 1...64 characters).")
        @OptionGroup var api: APIOptions
        @Argument(help: "Agent id or current name.") var agent: String
        @Argument(help: "The new name.") var name: String

        func run() async throws {
            let view = try await api.client().renameAgent(agent, to: name)
            say("agent \(view.id) is now named '\(view.name)'")
        }
    }

    struct Verdicts: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "An agent's link verdict history, newest first (server probes, agent reports, handshakes).")
        @OptionGroup var api: APIOptions
        @Argument(help: "Agent id or name.") var agent: String
        @Option(name: .customLong("limit"), help: "Entries to show (1...100).") var limit = 20
        @Flag(name: .customLong("json"), help: "Print JSON, with each entry's evidence.") var json = false

        func validate() throws {
            guard (1...100).contains(limit) else { throw ValidationError("--limit must be 1...100") }
        }

        func run() async throws {
            let history = try await api.client().verdicts(agent, limit: limit)
            if json {
                try printJSON(history)
                return
            }
            if history.isEmpty {
                say("no link verdict recorded for \(agent)")
                return
            }
            let format = ISO8601DateFormatter()
            for v in history {
                let origin = LinkProvenance.words(stage: v.stage, source: v.source)
                say("\(format.string(from: v.firstAt))  \(v.verdict.rawValue) (\(origin)) \(v.count)x, last \(format.string(from: v.lastAt)): \(v.summary)")
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Disconnect an agent and refuse it from now on.")
        @OptionGroup var api: APIOptions
        @Argument(help: "Agent id or name.") var agent: String
        @Option(name: .customLong("reason")) var reason: String?

        func run() async throws {
            let answer = try await api.client().revokeAgent(agent, reason: reason)
            say(answer.message)
        }
    }
}

func ago(_ date: Date?, _ now: Date) -> String {
    guard let date else { return "-" }
    let s = max(0, now.timeIntervalSince(date))
    if s < 90 { return "\(Int(s))s" }
    if s < 5400 { return "\(Int(s / 60))m" }
    if s < 172_800 { return "\(Int(s / 3600))h" }
    return "\(Int(s / 86_400))d"
}

func percent(_ used: Int64?, _ total: Int64?) -> String {
    guard let used, let total, total > 0 else { return "-" }
    return String(format: "%.0f%%", Double(used) * 100 / Double(total))
}

func printTable(_ rows: [[String]]) {
    for line in tableLines(rows) { print(line) }
}

/// `rows` as aligned columns, a line each.
func tableLines(_ rows: [[String]]) -> [String] {
    guard let first = rows.first else { return [] }
    var widths = Array(repeating: 0, count: first.count)
    for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
    return rows.map { row in
        row.enumerated().map { i, cell in i == row.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0) }.joined(separator: "  ")
    }
}

func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = APICoding.encoder()
    encoder.outputFormatting.insert(.prettyPrinted)
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}
