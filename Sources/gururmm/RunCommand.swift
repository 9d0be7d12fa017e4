import ArgumentParser
import Foundation
import RMMAPI
import RMMProtocol

/// `gururmm run`: runs a command or script on agents and reports exactly what happened to each.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a command (/bin/sh -c) or a script on agents.",
        discussion: """
        Each agent's output is printed as it arrives on standard output and error, prefixed \
        with the agent's name; the summary goes to standard error; with --json, only the JSON \
        goes to standard output, after every command ended.

        Progress: when standard output is a terminal and --json is not given, a line such as \
        "812/1000 delivered · 640 done · 3 failed" (expired and cancelled added when any) is \
        rewritten in place on it, at most ten times a second, and erased before the results. \
        Delivered counts commands the agent confirmed it holds; done counts ended ones, failed \
        those ended failed, timed out, interrupted or rejected. Nothing of it is written when \
        standard output is a file or a pipe.

        Exit status: 0 all succeeded, 1 any failed or timed out, 2 any not delivered.
        """
    )

    @OptionGroup var api: APIOptions
    @Option(name: .customLong("agent"), help: "Target agent (id or name); repeat for several.")
    var agents: [String] = []
    @Flag(name: .customLong("all"), help: "Target every enrolled agent.")
    var all = false
    @Option(name: .customLong("timeout"), help: "Seconds the command may run.")
    var timeout: Double?
    @Option(name: .customLong("expires"), help: "Seconds it may wait for delivery before it ends expired.")
    var expires: Double?
    @Flag(name: .customLong("detach"), help: "Print command ids and return at once.")
    var detach = false
    @Flag(name: .customLong("json"), help: "Print results as JSON.")
    var json = false
    @Option(name: .customLong("script"), help: "Send this file's contents as a script.")
    var script: String?
    @Option(name: .customLong("interpreter"), help: "Interpreter for --script (default /bin/sh).")
    var interpreter: String?
    @Argument(parsing: .postTerminator, help: "The command to run, after --.")
    var command: [String] = []

    func validate() throws {
        if agents.isEmpty && !all { throw ValidationError("name targets with --agent AGENT (repeatable) or --all") }
        if !agents.isEmpty && all { throw ValidationError("use --agent or --all, not both") }
        if script == nil && command.isEmpty { throw ValidationError("give a command after --, or --script FILE") }
        if script != nil && !command.isEmpty { throw ValidationError("give a command or --script, not both") }
        if interpreter != nil && script == nil { throw ValidationError("--interpreter only applies with --script") }
    }

    func run() async throws {
        let client = try api.client()
        var request = RunRequest(agents: all ? nil : agents, all: all ? true : nil, command: nil, script: nil,
                                 interpreter: interpreter, timeoutSeconds: timeout, expiresSeconds: expires)
        if let script {
            guard let data = FileManager.default.contents(atPath: script) else { throw ValidationError("cannot read script file \(script)") }
            request.script = String(decoding: data, as: UTF8.self)
        } else {
            request.command = command.joined(separator: " ")
        }
        // Printing as it streams, every name and state comes from the stream: `--all` asks for
        // the count of commands alone (its order, by agent name, the summary rebuilds).
        let streamsNames = all && !json && !detach
        if streamsNames { request.listCommands = false }
        let created = try await client.run(request)
        if detach {
            if json {
                try printJSON(created)
            } else {
                for target in created.commands { print("\(target.commandId)  \(target.agent)") }
            }
            return
        }
        let names = Dictionary(created.commands.map { ($0.agentId, $0.agent) }, uniquingKeysWith: { a, _ in a })
        let follower = client.batch(created.batchId)
        let states: [CommandState]
        if json {
            // Wait without the output, then read every result with its output in one streamed
            // answer, printing each as it arrives.
            _ = try await follower.follow(output: false) { _ in }
            let printer = ResultsPrinter()
            var seen: [CommandState] = []
            try await follower.results { view in
                seen.append(view.state)
                try printer.item(RunResults.Item(view, agentName: names[view.agentId] ?? view.agent ?? view.agentId))
            }
            printer.finish()
            guard seen.count == created.commands.count else {
                throw GuruAPIError(status: 0, message: "the API listed \(seen.count) results for \(created.commands.count) commands of batch \(created.batchId)")
            }
            states = seen
        } else {
            let commandAgents = Dictionary(created.commands.map { ($0.commandId, $0.agent) }, uniquingKeysWith: { a, _ in a })
            let total = created.commandCount ?? created.commands.count
            let finals: [String: CommandBrief]
            if let progress = FanOutProgressLine.onTerminal(wanted: true, total: total) {
                let printer = LivePrinter(enabled: true, prefixes: commandAgents, sink: progress.write)
                finals = try await progress.showing {
                    try await printer.printing { drained, print in
                        try await follower.follow(output: true, everyState: true, drained: drained, onCommand: progress.record, onOutput: print)
                    }
                }
            } else {
                let printer = LivePrinter(enabled: true, prefixes: commandAgents)
                finals = try await printer.printing { drained, print in try await follower.follow(output: true, drained: drained, onOutput: print) }
            }
            let results = try Self.inOrder(finals, created: created)
            printSummary(results, names: names)
            states = results.map(\.state)
        }
        throw ExitCode(Self.exitStatus(states))
    }

    /// The batch's ended commands in the order `POST /commands` created them: the answer's list,
    /// or without one (`list_commands` false, `--all`) by agent name and id, the order `--all`
    /// creates them in. Throws when a command created has not ended.
    static func inOrder(_ finals: [String: CommandBrief], created: RunResponse) throws -> [CommandBrief] {
        guard let count = created.commandCount, created.commands.isEmpty else {
            return try created.commands.map { target in
                guard let brief = finals[target.commandId] else {
                    throw GuruAPIError(status: 0, message: "the API said batch \(created.batchId) is done without the end of command \(target.commandId)")
                }
                return brief
            }
        }
        guard finals.count == count else {
            throw GuruAPIError(status: 0, message: "the API said batch \(created.batchId) is done with \(finals.count) of its \(count) commands ended")
        }
        return finals.values.sorted { ($0.agent ?? $0.agentId, $0.agentId) < ($1.agent ?? $1.agentId, $1.agentId) }
    }

    static func exitStatus(_ states: [CommandState]) -> Int32 {
        if states.contains(where: { $0 == .expired || $0.isUndelivered }) { return 2 }
        if states.contains(where: { $0 != .succeeded }) { return 1 }
        return 0
    }

    private func printSummary(_ results: [CommandBrief], names: [String: String]) {
        let ok = results.filter { $0.state == .succeeded }.count
        FileHandle.standardError.write(Data("--- \(ok)/\(results.count) succeeded\n".utf8))
        for r in results where r.state != .succeeded {
            var line = "\(names[r.agentId] ?? r.agent ?? r.agentId): \(r.state.rawValue)"
            if let code = r.exitCode { line += " (exit \(code))" }
            if let reason = r.reason { line += ": \(reason)" }
            line += "  [\(r.id)]"
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
    }
}

/// The `--json` result shape of `gururmm run`.
struct RunResults: Encodable {
    struct Item: Encodable {
        var agent: String
        var agentId: String
        var commandId: String
        var state: CommandState
        var exitCode: Int32?
        var stdout: String
        var stderr: String
        var reason: String?

        init(_ v: CommandView, agentName: String) {
            agent = agentName
            agentId = v.agentId
            commandId = v.id
            state = v.state
            exitCode = v.exitCode
            stdout = v.stdout ?? ""
            stderr = v.stderr ?? ""
            reason = v.reason
        }
    }
    var results: [Item]
}
