import Foundation
import RMMAPI

/// A process the benchmark started (the server or a fleet simulator), logging to a file.
final class BenchChild {
    let name: String
    let process: Process
    let logPath: String

    /// This same gururmm binary with `arguments`.
    convenience init(name: String, arguments: [String], logPath: String) throws {
        try self.init(name: name, executable: CommandLine.arguments[0], arguments: arguments, logPath: logPath)
    }

    /// `environment` is set on top of the bench's own.
    init(name: String, executable: String, arguments: [String], environment: [String: String] = [:], logPath: String) throws {
        self.name = name
        self.logPath = logPath
        guard FileManager.default.createFile(atPath: logPath, contents: nil), let log = FileHandle(forWritingAtPath: logPath) else { throw BenchError("cannot write \(logPath)") }
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable).standardizedFileURL
        process.arguments = arguments
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// The end of the log, and if the process crashed, the crash's first lines too (a backtrace's
    /// registers and images would push the reason out of the end).
    var exitReport: String {
        let text = log
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard let crash = lines.firstIndex(where: { $0.contains("Fatal error") || $0.contains("Crash") || $0.contains("crashed") }) else {
            return String(text.suffix(2000))
        }
        return lines[crash..<min(lines.count, crash + 25)].joined(separator: "\n") + "\n…\n" + String(text.suffix(600))
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace` seconds.
    func stop(grace: Double = 10) async {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = Date().addingTimeInterval(grace)
        while process.isRunning && Date() < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        if process.isRunning { kill(pid, SIGKILL) }
        process.waitUntilExit()
    }

    /// SIGKILL: no shutdown at all.
    func crash() {
        kill(pid, SIGKILL)
        process.waitUntilExit()
    }
}

/// A benchmark failure, in words.
struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Polls `condition` every `every` until it holds; throws after `timeout` seconds saying what it waited for.
func benchWait(_ what: String, timeout: Double, every: Double = 0.2, _ condition: () async throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    while true {
        if try await condition() { return }
        if Date() >= deadline { throw BenchError("timed out after \(Int(timeout)) s waiting for \(what)") }
        try await Task.sleep(for: .milliseconds(Int(every * 1000)))
    }
}

/// The server under test: started from this same binary with `--plain` on loopback ports.
final class BenchServer {
    let directory: String
    private(set) var child: BenchChild
    private(set) var ready: ServerReady
    let api: GuruAPIClient
    /// Server flags on top of the bench's own (a phase's limits).
    private let extraArguments: [String]
    private var starts = 1

    init(directory: String, extraArguments: [String] = []) async throws {
        self.directory = directory
        self.extraArguments = extraArguments
        (child, ready) = try await Self.launch(directory: directory, agentPort: 0, apiPort: 0, run: 1, extraArguments: extraArguments)
        let token = try String(contentsOfFile: ready.adminTokenPath, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let base = URL(string: ready.apiUrl) else { throw BenchError("bad API URL \(ready.apiUrl)") }
        api = GuruAPIClient(base: base, token: token, tls: nil)
    }

    private static func launch(directory: String, agentPort: Int, apiPort: Int, run: Int, extraArguments: [String]) async throws -> (BenchChild, ServerReady) {
        let readyPath = directory + "/data/server.json"
        try? FileManager.default.removeItem(atPath: readyPath)
        let child = try BenchChild(name: "server", arguments: [
            "server", "--plain", "--data-dir", directory + "/data", "--log-level", "warning",
            "--agent-listen", "127.0.0.1:\(agentPort)", "--api-listen", "127.0.0.1:\(apiPort)",
            // The simulator's agents all come from 127.0.0.1: the per-address limits are for strangers.
            "--max-unauthenticated-per-address", "100000", "--max-pending-per-agent", "10000000",
        ] + extraArguments, logPath: directory + "/server-\(run).log")
        try await benchWait("the server to start", timeout: 60) {
            if !child.isRunning { throw BenchError("server exited:\n\(child.exitReport)") }
            return FileManager.default.fileExists(atPath: readyPath)
        }
        let ready = try APICoding.decoder().decode(ServerReady.self, from: Data(contentsOf: URL(fileURLWithPath: readyPath)))
        return (child, ready)
    }

    /// SIGKILLs the server and starts it again on the same data directory and ports.
    func crashAndRestart() async throws {
        child.crash()
        starts += 1
        (child, ready) = try await Self.launch(directory: directory, agentPort: ready.agentPort, apiPort: ready.apiPort, run: starts,
                                              extraArguments: extraArguments)
    }

    func fleet() async throws -> FleetSummaryView { try await api.fleet() }

    func stats() -> ProcessStats? { ProcessStats.read(pid: child.pid) }
}
