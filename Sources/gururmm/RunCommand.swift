import ArgumentParser
import Foundation
import RMMAPI
import RMMProtocol

/// `gururmm run`: runs a command or script on agents and reports exactly what happened to each.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a command (/bin/sh -c) or a script on agents.",
        discussion: "Exit status: 0 all succeeded, 1 any failed or timed out, 2 any not delivered."
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
            let printer = LivePrinter(enabled: true, prefixes: commandAgents)
            let finals = try await printer.printing { drained, print in try await follower.follow(output: true, drained: drained, onOutput: print) }
            var results: [CommandView] = []
            for target in created.commands {
                guard let view = finals[target.commandId] else {
                    throw GuruAPIError(status: 0, message: "the API said batch \(created.batchId) is done without the end of command \(target.commandId)")
                }
                results.append(view)
            }
            printSummary(results, names: names)
            states = results.map(\.state)
        }
        throw ExitCode(Self.exitStatus(states))
    }

    static func exitStatus(_ states: [CommandState]) -> Int32 {
        if states.contains(where: { $0 == .expired || $0.isUndelivered }) { return 2 }
        if states.contains(where: { $0 != .succeeded }) { return 1 }
        return 0
    }

    private func printSummary(_ results: [CommandView], names: [String: String]) {
        let ok = results.filter { $0.state == .succeeded }.count
        FileHandle.standardError.write(Data("--- \(ok)/\(results.count) succeeded\n".utf8))
        for r in results where r.state != .succeeded {
            var line = "\(names[r.agentId] ?? r.agentId): \(r.state.rawValue)"
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

/// Prints streamed output line by line, each prefixed with its agent's name.
///
/// Chunks are placed by their offset: bytes already printed are never printed again (a stream
/// may repeat a chunk), and a gap is said as such. An unfinished line is held up to
/// `maxPartialBytes`, then printed as it is, so output without newlines from 10,000 agents cannot
/// make the CLI hold each agent's whole output.
final class LivePrinter {
    /// Longest unfinished line held per command and stream before it is printed anyway.
    static let maxPartialBytes = 4096
    /// The largest output cap a config may set (`AgentConfig.problems`): no stream is longer.
    static let largestOutputCap = 8 << 20
    private let enabled: Bool
    private let prefixes: [String: String]
    private var partial: [String: Data] = [:]
    /// Per command and stream: the offset of the next byte not yet taken.
    private var nextOffset: [String: Int] = [:]
    /// Lines printed but not yet written, per stream: written when the answer's bytes so far are
    /// all handled (`flushOutput`), or at 64 KiB — one write for many agents' lines, not one each.
    /// (Within one such batch a stderr line may come out after a stdout line stored later.)
    private var pending: (stdout: [UInt8], stderr: [UInt8]) = ([], [])
    private static let pendingLimit = 64 << 10

    /// Where printed lines are written: standard output or error.
    private let sink: (StdStream, Data) -> Void

    init(enabled: Bool, prefixes: [String: String], sink: @escaping (StdStream, Data) -> Void = LivePrinter.standardStreams) {
        self.sink = sink
        self.enabled = enabled
        self.prefixes = prefixes
    }

    func print(_ chunk: OutputView) {
        guard enabled, chunk.offset >= 0 else { return }
        let key = chunk.commandId + "/" + chunk.stream.rawValue
        let expected = nextOffset[key, default: 0]
        let end = chunk.offset.addingReportingOverflow(chunk.data.count)
        guard !end.overflow, end.partialValue > expected else { return }
        var fresh = chunk.data
        if chunk.offset < expected {
            fresh = chunk.data.suffix(end.partialValue - expected)
        } else if chunk.offset - expected > Self.largestOutputCap {
            // No stream holds more than the largest output cap: this offset is not output.
            return
        } else if chunk.offset > expected {
            flush(key: key, commandId: chunk.commandId, stream: chunk.stream)
            emit(Data("… \(chunk.offset - expected) bytes of output not received …".utf8)[...], commandId: chunk.commandId, stream: chunk.stream)
        }
        nextOffset[key] = end.partialValue
        let joined = partial[key, default: Data()] + fresh
        // Walk the lines in place; only the unfinished tail is copied, once.
        var start = joined.startIndex
        while let newline = joined[start...].firstIndex(of: 0x0A) {
            emit(joined[start..<newline], commandId: chunk.commandId, stream: chunk.stream)
            start = joined.index(after: newline)
        }
        var buffer = Data(joined[start...])
        if buffer.count > Self.maxPartialBytes {
            // Cut where no UTF-8 character is split; the rest waits for the next chunk.
            let cut = Self.completeUTF8Prefix(buffer)
            emit(buffer[..<cut], commandId: chunk.commandId, stream: chunk.stream)
            buffer = Data(buffer[cut...])
        }
        partial[key] = buffer
    }

    /// The end of the longest prefix of `data` that splits no UTF-8 sequence.
    static func completeUTF8Prefix(_ data: Data) -> Data.Index {
        var lead = data.endIndex
        // The last byte that starts a character, among the last four.
        while lead > data.startIndex, data.endIndex - lead < 4 {
            lead -= 1
            if data[lead] & 0xC0 != 0x80 { break }
        }
        guard lead < data.endIndex else { return data.endIndex }
        let first = data[lead]
        let length = first < 0x80 ? 1 : first >= 0xF0 ? 4 : first >= 0xE0 ? 3 : first >= 0xC0 ? 2 : 1
        return data.endIndex - lead >= length ? data.endIndex : lead
    }

    private func flush(key: String, commandId: String, stream: StdStream) {
        if let data = partial.removeValue(forKey: key), !data.isEmpty { emit(data[...], commandId: commandId, stream: stream) }
    }

    static func standardStreams(_ stream: StdStream, _ data: Data) {
        (stream == .stdout ? FileHandle.standardOutput : FileHandle.standardError).write(data)
    }

    /// Runs `follow` with this printer's flush and print, then prints every held line — also when
    /// `follow` fails, so output that arrived before a broken stream is not lost.
    func printing<T>(_ follow: (_ drained: () -> Void, _ print: (OutputView) -> Void) async throws -> T) async throws -> T {
        defer { flushAll() }
        return try await follow(flushOutput, print)
    }

    /// Prints every held line, finished or not, and writes everything printed.
    func flushAll() {
        for (key, data) in partial where !data.isEmpty {
            let parts = key.split(separator: "/")
            guard parts.count == 2, let stream = StdStream(rawValue: String(parts[1])) else { continue }
            emit(data[...], commandId: String(parts[0]), stream: stream)
        }
        partial.removeAll()
        flushOutput()
    }

    /// Writes the lines printed so far.
    func flushOutput() {
        if !pending.stdout.isEmpty { sink(.stdout, Data(pending.stdout)) }
        if !pending.stderr.isEmpty { sink(.stderr, Data(pending.stderr)) }
        pending = ([], [])
    }

    private func emit(_ line: Data.SubSequence, commandId: String, stream: StdStream) {
        let text = "[\(prefixes[commandId] ?? commandId)] " + String(decoding: line, as: UTF8.self) + "\n"
        if stream == .stdout { pending.stdout.append(contentsOf: text.utf8) } else { pending.stderr.append(contentsOf: text.utf8) }
        if pending.stdout.count + pending.stderr.count >= Self.pendingLimit { flushOutput() }
    }
}
