import ArgumentParser
import Foundation
import Logging
import RMMAgent
import RMMAPI
import RMMServer
import RMMTransport

/// `gururmm demo`: a server in ./gururmm-data plus a local agent, a first command, and what to try next.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "demo", abstract: "Start a server and a local agent, run a first command, keep running.")

    @Option(name: .customLong("data-dir")) var dataDirectory: String = "./gururmm-data"
    @Option(name: .customLong("agent-listen")) var agentListen: String = "127.0.0.1:7443"
    @Option(name: .customLong("api-listen")) var apiListen: String = "127.0.0.1:7080"
    @Option(name: .customLong("log-level")) var logLevel: String = "warning"
    @Flag(name: .customLong("plain"), help: "Plain HTTP/WebSocket instead of TLS (local use only).") var plain = false

    func run() async throws {
        let agentAddress = try HostPort(parsing: agentListen, flag: "--agent-listen")
        let apiAddress = try HostPort(parsing: apiListen, flag: "--api-listen")
        let logger = makeLogger(label: "gururmm.demo", level: logLevel)
        let options = ServerOptions(dataDirectory: dataDirectory, agentHost: agentAddress.host, agentPort: agentAddress.port,
                                    apiHost: apiAddress.host, apiPort: apiAddress.port, tls: plain ? .plain : .selfSigned)
        let dataDirectory = self.dataDirectory
        let plain = self.plain
        // SIGINT/SIGTERM shut the server down gracefully (its `ServiceGroup`, or its start if it
        // has not started serving); once it has returned, the demo agent is cancelled with it.
        signal(SIGPIPE, SIG_IGN)
        try await withThrowingTaskGroup(of: Void.self) { group in
            let (readyStream, readyContinuation) = AsyncStream<ServerReady>.makeStream()
            group.addTask {
                // Finished also when a signal stops the server before it is ready, so the wait below ends.
                defer { readyContinuation.finish() }
                try await GuruServer.run(options: options, logger: logger, version: GuruRMM.version, stopOnSignals: true) { ready in
                    readyContinuation.yield(ready)
                    readyContinuation.finish()
                }
            }
            var iterator = readyStream.makeAsyncIterator()
            // No ready server: it stopped on a signal (return) or failed to start (its error is thrown here).
            guard let ready = await iterator.next() else { return try await group.waitForAll() }
            let token = try String(contentsOfFile: ready.adminTokenPath, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            guard let base = URL(string: ready.apiUrl) else { return }
            let client = GuruAPIClient(base: base, token: token, tls: try ready.tlsPin.map { try TLSTrust(parsing: $0) })
            let stateDirectory = dataDirectory + "/demo-agent"
            var enrollToken: String?
            if (try? AgentIdentity.loadOrCreate(stateDirectory: stateDirectory))?.agentId == nil {
                let view = try await client.createEnrollmentToken(expiresSeconds: 600, uses: 1)
                enrollToken = view.token
            }
            var agentOptions = AgentOptions(
                endpoint: try ServerEndpoint(parsing: ready.agentUrl),
                stateDirectory: stateDirectory, enrollToken: enrollToken, name: "demo-agent", version: GuruRMM.version
            )
            agentOptions.allowPlain = plain
            let frozenAgentOptions = agentOptions
            group.addTask { try await AgentRuntime.run(options: frozenAgentOptions, logger: logger) }

            say("GuruRMM demo: server data in \(dataDirectory), API \(ready.apiUrl), agents \(ready.agentUrl)\(ready.tlsPin.map { " (TLS key pin \($0))" } ?? "")")
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline {
                let agents = try await client.agents()
                if agents.contains(where: { $0.name == "demo-agent" && $0.status == .online }) { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            let created = try await client.run(RunRequest(
                agents: ["demo-agent"], all: nil, command: "echo \"hello from $(hostname)\"; uname -sr",
                script: nil, interpreter: nil, timeoutSeconds: 30, expiresSeconds: 30))
            var view: CommandView?
            _ = try await client.awaitBatch(created.batchId, timeout: 90)
            for target in created.commands { view = try await client.command(target.commandId) }
            if let view {
                say("First command on demo-agent: \(view.state.rawValue)\(view.exitCode.map { " (exit \($0))" } ?? "")")
                say((view.stdout ?? "").split(separator: "\n").map { "  | " + $0 }.joined(separator: "\n"))
            }
            say("""

            Try next, in another terminal (the CLI finds the token in \(dataDirectory)/admin.token):
              swift run gururmm agents
              swift run gururmm run --agent demo-agent -- 'df -h / && uptime'
              swift run gururmm commands list
              swift run gururmm agents evict demo-agent
            Press Ctrl-C to stop.
            """)
            _ = try await group.next()
            group.cancelAll()
        }
    }
}
