import ArgumentParser
import Foundation
import RMMAPI

/// `gururmm commands`: show one command's lifecycle, or list commands.
struct CommandsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "commands", abstract: "Inspect commands.", subcommands: [Show.self, List.self])

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A command's full lifecycle with timestamps, output and reason.")
        @OptionGroup var api: APIOptions
        @Argument(help: "Command id.")
        var id: String
        @Flag(name: .customLong("json")) var json = false

        func run() async throws {
            let view = try await api.client().command(id)
            if json {
                try printJSON(view)
                return
            }
            let format = ISO8601DateFormatter()
            print("command  \(view.id)")
            print("agent    \(view.agent ?? "?") (\(view.agentId))")
            print("state    \(view.state.rawValue)\(view.exitCode.map { " (exit \($0))" } ?? "")\(view.signal.map { " (signal \($0))" } ?? "")")
            if let reason = view.reason { print("reason   \(reason)") }
            print("\(view.kind.rawValue)    \(view.text.count > 300 ? String(view.text.prefix(300)) + "…" : view.text)")
            print("created  \(format.string(from: view.createdAt)) by \(view.createdBy); expires \(format.string(from: view.expiresAt)); timeout \(Int(view.timeoutSeconds)) s")
            print("history:")
            for event in view.events ?? [] {
                print("  \(format.string(from: event.at))  \(event.state.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0))  \(event.reason ?? "")")
            }
            if let out = view.stdout, !out.isEmpty { print("stdout\(view.stdoutTruncated ? " (truncated)" : ""):\n\(out)") }
            if let err = view.stderr, !err.isEmpty { print("stderr\(view.stderrTruncated ? " (truncated)" : ""):\n\(err)") }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Recent commands, newest first.")
        @OptionGroup var api: APIOptions
        @Option(name: .customLong("agent"), help: "Only this agent (id or name).") var agent: String?
        @Option(name: .customLong("limit")) var limit = 50
        @Flag(name: .customLong("json")) var json = false

        func run() async throws {
            let views = try await api.client().commands(agent: agent, limit: limit)
            if json {
                try printJSON(views)
                return
            }
            let now = Date()
            var rows = [["ID", "AGENT", "STATE", "EXIT", "AGE", "COMMAND"]]
            for v in views {
                let text = v.text.replacingOccurrences(of: "\n", with: " ")
                rows.append([v.id, v.agent ?? v.agentId, v.state.rawValue, v.exitCode.map(String.init) ?? "-", ago(v.createdAt, now), String(text.prefix(60))])
            }
            printTable(rows)
        }
    }
}
