import Foundation
import RMMAPI
import RMMServer
import RMMTestSupport
import Testing

/// The `gururmm` binary under test.
func gururmmBinary() throws -> String {
    try #require(locateProductBinary("gururmm"), "build the gururmm product first (swift build), or set GURURMM_BINARY")
}

/// A real `gururmm server` process on loopback ports chosen by the OS. Plain text by default, so
/// the WebSocket-aware fault proxy can see frames; `tls: true` runs the secure default.
final class E2EServer {
    let directory: String
    private(set) var process: ManagedProcess
    private(set) var agentPort: Int
    private(set) var apiPort: Int
    let token: String
    private var extraArguments: [String]
    private var starts = 0

    var api: TestAPI { TestAPI(base: "http://127.0.0.1:\(apiPort)", token: token) }
    var agentURL: String { "\(tls ? "wss" : "ws")://127.0.0.1:\(agentPort)" }
    var dataDirectory: String { directory + "/data" }
    let tls: Bool

    static func start(_ extraArguments: [String] = [], tls: Bool = false) async throws -> E2EServer {
        let extraArguments = tls ? extraArguments : ["--plain"] + extraArguments
        let directory = try freeTemporaryDirectory(prefix: "gururmm-e2e")
        let (process, ready) = try await launch(directory: directory, agentPort: 0, apiPort: 0, extra: extraArguments, log: directory + "/server-1.log")
        let token = try String(contentsOfFile: directory + "/data/admin.token", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        return E2EServer(directory: directory, process: process, ready: ready, token: token, extra: extraArguments, tls: tls)
    }

    private init(directory: String, process: ManagedProcess, ready: ServerReady, token: String, extra: [String], tls: Bool) {
        self.tls = tls
        self.directory = directory
        self.process = process
        self.agentPort = ready.agentPort
        self.apiPort = ready.apiPort
        self.token = token
        self.extraArguments = extra
        self.starts = 1
    }

    /// Kills the server with SIGKILL (no shutdown at all) and starts it again on the same ports.
    func killAndRestart() async throws {
        process.signal(SIGKILL)
        _ = try await process.waitForExit(timeout: .seconds(10))
        try await restartOnSamePorts()
    }

    /// Stops the server and starts it again on the same data directory and ports with `arguments` added.
    func restart(adding arguments: [String]) async throws {
        await stop()
        extraArguments += arguments
        try await restartOnSamePorts()
    }

    /// Starts the server again (after it exited) on the same data directory and ports.
    ///
    /// Between the stop and this start another test's outgoing connection may hold one of these
    /// ports as its ephemeral local port for a moment, so a start that fails with "Address already
    /// in use" is tried again until the port is free or 60 s have passed.
    func restartOnSamePorts() async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while true {
            starts += 1
            do {
                let (process, ready) = try await Self.launch(directory: directory, agentPort: agentPort, apiPort: apiPort, extra: extraArguments, log: directory + "/server-\(starts).log")
                self.process = process
                self.agentPort = ready.agentPort
                self.apiPort = ready.apiPort
                return
            } catch let error as E2EError where "\(error)".contains("Address already in use") && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(200))
            }
        }
    }

    private static func launch(directory: String, agentPort: Int, apiPort: Int, extra: [String], log: String) async throws -> (ManagedProcess, ServerReady) {
        let readyPath = directory + "/data/server.json"
        try? FileManager.default.removeItem(atPath: readyPath)
        let process = try ManagedProcess.start(try gururmmBinary(), arguments: [
            "server", "--data-dir", directory + "/data",
            "--agent-listen", "127.0.0.1:\(agentPort)", "--api-listen", "127.0.0.1:\(apiPort)",
            "--log-level", "debug",
        ] + extra, logPath: log)
        try await waitUntil("server writes \(readyPath)", timeout: .seconds(60)) {
            if !process.isRunning { throw E2EError("server exited early:\n\(process.logContents())") }
            return FileManager.default.fileExists(atPath: readyPath)
        }
        let ready = try APICoding.decoder().decode(ServerReady.self, from: Data(contentsOf: URL(fileURLWithPath: readyPath)))
        return (process, ready)
    }

    func stop() async {
        _ = try? await process.terminateAndWait(grace: .seconds(5))
    }
}

/// A real `gururmm agent` process.
final class E2EAgent {
    let name: String
    let stateDirectory: String
    private(set) var process: ManagedProcess
    private var runs = 1

    /// Extra `gururmm agent` flags (tuning such as `--handshake-timeout 3`), kept for restarts.
    private let extraArguments: [String]

    static func start(name: String, server: String, enrollToken: String?, stateDirectory: String? = nil, arguments: [String] = []) throws -> E2EAgent {
        let state = try stateDirectory ?? freeTemporaryDirectory(prefix: "gururmm-agent-\(name)")
        let process = try launch(name: name, server: server, state: state, token: enrollToken, run: 1, extra: arguments)
        return E2EAgent(name: name, state: state, process: process, extraArguments: arguments)
    }

    private init(name: String, state: String, process: ManagedProcess, extraArguments: [String]) {
        self.name = name
        self.stateDirectory = state
        self.process = process
        self.extraArguments = extraArguments
    }

    private static func launch(name: String, server: String, state: String, token: String?, run: Int, extra: [String]) throws -> ManagedProcess {
        // Reconnects within a second, so tests of healing do not wait out the default backoff.
        var arguments = ["agent", "--server", server, "--state-dir", state, "--name", name, "--log-level", "debug", "--max-backoff", "1"]
        if server.hasPrefix("ws:") { arguments.append("--allow-plain") }
        if let token { arguments += ["--enroll-token", token] }
        return try ManagedProcess.start(try gururmmBinary(), arguments: arguments + extra, logPath: state + "/agent-\(run).log")
    }

    /// Starts the agent again on the same state directory (it is enrolled by now).
    func restart(server: String) throws {
        runs += 1
        process = try Self.launch(name: name, server: server, state: stateDirectory, token: nil, run: runs, extra: extraArguments)
    }

    func kill() async throws {
        process.signal(SIGKILL)
        _ = try await process.waitForExit(timeout: .seconds(10))
    }

    func stop() async {
        _ = try? await process.terminateAndWait(grace: .seconds(5))
    }
}

extension E2EServer {
    /// Runs the CLI against this server through its data directory (API URL, TLS pin and admin
    /// token from there); returns its exit code and everything it printed.
    func cli(_ arguments: [String]) async throws -> (code: Int32, output: String) {
        try await runCLI(dataDirectory: dataDirectory, arguments)
    }
}

/// Runs `gururmm` with `--data-dir` (before a `--` that starts a command line) and waits for it.
func runCLI(dataDirectory: String, _ arguments: [String]) async throws -> (code: Int32, output: String) {
    var arguments = arguments
    arguments.insert(contentsOf: ["--data-dir", dataDirectory], at: arguments.firstIndex(of: "--") ?? arguments.endIndex)
    let process = try ManagedProcess.start(try gururmmBinary(), arguments: arguments,
                                           logPath: dataDirectory + "/../cli-\(UUID().uuidString).log")
    let code = try await process.waitForExit(timeout: .seconds(60))
    return (code, process.logContents())
}

struct E2EError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension TestAPI {
    /// Waits until the named agent is `online` (downlink proven).
    func waitOnline(_ name: String, timeout: Duration = .seconds(30)) async throws {
        try await waitUntil("agent \(name) online", timeout: timeout) {
            try await agent(named: name)?.status == .online
        }
    }
}

/// Runs `body` with a server and the named agents online; always stops the processes, and on
/// failure attaches their logs to the test output.
func withFleet(
    agents names: [String],
    serverArguments: [String] = [],
    fastLiveness: Bool = false,
    _ body: (E2EServer, [E2EAgent]) async throws -> Void
) async throws {
    let server = try await E2EServer.start(serverArguments)
    await withFleet(on: server, agents: names, fastLiveness: fastLiveness, body)
}

/// The same on a server the test started itself (stopped here too). Each agent connects to
/// `agentURL(name)`, or straight to the server where that is nil: how a test routes some agents
/// through a fault proxy.
func withFleet(
    on server: E2EServer,
    agents names: [String],
    fastLiveness: Bool = false,
    agentURL: (String) -> String? = { _ in nil },
    _ body: (E2EServer, [E2EAgent]) async throws -> Void
) async {
    var agents: [E2EAgent] = []
    do {
        if fastLiveness { try await server.api.useFastLiveness() }
        let token = try await server.api.enrollToken(uses: max(1, names.count))
        for name in names { agents.append(try E2EAgent.start(name: name, server: agentURL(name) ?? server.agentURL, enrollToken: token)) }
        for name in names { try await server.api.waitOnline(name) }
        try await body(server, agents)
    } catch {
        let logs = ([("server", server.process)] + agents.map { ($0.name, $0.process) })
            .map { "---- \($0.0) log (tail) ----\n" + $0.1.logExcerpt(tail: 6000) }
            .joined(separator: "\n")
        for agent in agents { await agent.stop() }
        await server.stop()
        Issue.record("\(error)\n\(logs)")
        return
    }
    for agent in agents { await agent.stop() }
    await server.stop()
}
