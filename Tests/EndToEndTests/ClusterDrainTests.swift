import Foundation
import RMMAPI
import RMMProtocol
import RMMStore
import RMMTestSupport
import Testing

extension EndToEnd {
    /// A node stopped with SIGTERM hands its agents to the other nodes (close hint `server=URL`)
    /// and exits once they have moved; a node alone stops at once, as a single server does.
    @Suite("End to end: a node drained by SIGTERM", .serialized)
    struct ClusterDrainTests {
        /// A second node with `first`'s keys on the same store; returns once it is ready.
        static func startNode(joining first: E2EServer, store: String, name: String, state: String) async throws -> (ManagedProcess, ServerReady) {
            let join = state + "/" + name
            let export = try ManagedProcess.start(try gururmmBinary(), arguments: ["cluster", "export-keys", "--data-dir", first.dataDirectory, "--out", join],
                                                  logPath: state + "/export-\(name).log")
            #expect(try await export.waitForExit(timeout: .seconds(60)) == 0, "\(export.logContents())")
            let node = try ManagedProcess.start(try gururmmBinary(), arguments: [
                "server", "--plain", "--data-dir", join, "--agent-listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0",
                "--store", store, "--node-name", name,
            ], logPath: state + "/\(name).log")
            try await waitUntil("node \(name) is ready", timeout: .seconds(60)) {
                if !node.isRunning { throw E2EError("node \(name) exited:\n\(node.logContents())") }
                return FileManager.default.fileExists(atPath: join + "/server.json")
            }
            return (node, try APICoding.decoder().decode(ServerReady.self, from: Data(contentsOf: URL(fileURLWithPath: join + "/server.json"))))
        }

        @Test("SIGTERM on node 1: every agent moves to node 2 (hinted), node 1 exits 0 within its drain limit, work in flight and work queued during the drain runs once")
        func drainMovesEveryAgent() async throws {
            let postgres = try await PostgresTestServer.shared()
            let url = try await postgres.createDatabase(prefix: "drain")
            let first = try await E2EServer.start(["--store", url, "--node-name", "n1", "--drain-seconds", "20"])
            var second: ManagedProcess?
            var sim: ManagedProcess?
            var agent: E2EAgent?
            let state = try freeTemporaryDirectory(prefix: "gururmm-drain")
            do {
                // Every agent knows node 1 only: node 2 does not exist yet.
                let token = try await first.api.enrollToken(uses: 21)
                try FileManager.default.createDirectory(atPath: state + "/sim", withIntermediateDirectories: true)
                sim = try ManagedProcess.start(try gururmmBinary(), arguments: [
                    "fleet-sim", "--agents", "20", "--state-dir", state + "/sim", "--max-backoff", "1", "--status-interval", "1",
                    "--log-level", "notice", "--allow-plain", "--enroll-token", token, "--json", "--server", first.agentURL,
                ], logPath: state + "/sim/sim.log")
                agent = try E2EAgent.start(name: "real", server: first.agentURL, enrollToken: token)
                let api1 = first.api
                try await waitUntil("21 agents online on node 1", timeout: .seconds(60)) {
                    let agents = try await api1.agents()
                    return agents.count == 21 && agents.allSatisfy { $0.status == .online }
                }
                let (node2, ready) = try await Self.startNode(joining: first, store: url, name: "n2", state: state)
                second = node2
                let api2 = TestAPI(base: ready.apiUrl, token: first.token)
                let before = Dictionary(uniqueKeysWithValues: try await api2.agents().map { ($0.id, $0.epoch) })

                // In flight on node 1 when it stops: the real agent is still running it.
                let marks = state + "/marks"
                let inFlight = try await api2.run(["real"], "sleep 2; echo in-flight >> \(marks)")
                try await waitUntil("the real agent runs the command", timeout: .seconds(30)) {
                    let view = try await api2.command(try #require(inFlight.commands.first).commandId)
                    return view.state == .running
                }

                let clock = ContinuousClock()
                let signalled = clock.now
                first.process.signal(SIGTERM)
                let log1 = first.process
                try await waitUntil("node 1 starts draining", timeout: .seconds(15)) { log1.logContents().contains("draining 21 agents to nodes n2") }
                // Queued during the drain, through node 2, to every agent wherever it is now.
                let duringDrain: RunResponse = try await api2.call("POST", "/api/v1/commands", body: RunRequest(
                    agents: nil, all: true, command: "echo during-drain >> \(marks)", script: nil, interpreter: nil, timeoutSeconds: 30, expiresSeconds: 60))

                let code = try await first.process.waitForExit(timeout: .seconds(40))
                let took = clock.now - signalled
                let log = first.process.logContents()
                #expect(code == 0, "exit code \(code); log tail:\n\(log.suffix(4000))")
                #expect(took < .seconds(20), "node 1 took \(took) to drain and stop")
                #expect(log.contains("drain done") && log.contains("21 of 21 agents moved to other nodes"), "log tail:\n\(log.suffix(4000))")
                #expect(GracefulShutdownTests.errorLines(log).isEmpty, "error-level lines: \(GracefulShutdownTests.errorLines(log))")

                // Node 1 is gone: agents online are on node 2, each on a newer connection.
                try await waitUntil("21 agents online on node 2 with a newer epoch", timeout: .seconds(30)) {
                    let agents = try await api2.agents()
                    return agents.count == 21 && agents.allSatisfy { $0.status == .online && $0.epoch > (before[$0.id] ?? .max) }
                }
                let realLog = try #require(agent).process.logContents()
                #expect(realLog.contains("trying server \(ready.agentUrl)"), "the real agent followed the hint:\n\(realLog.suffix(3000))")

                for batch in [inFlight, duringDrain] {
                    let results = try await api2.finish(batch, timeout: 60)
                    #expect(results.allSatisfy { $0.state == .succeeded },
                            "\(results.filter { $0.state != .succeeded }.map { "\($0.agent ?? $0.agentId): \($0.state.rawValue) \($0.reason ?? "")" })")
                    for result in results {
                        let history = try await api2.command(result.id).events ?? []
                        #expect(history.filter { $0.state == CommandState.succeeded }.count == 1, "\(result.id): \(history.map { $0.state.rawValue })")
                    }
                }
                // The two may run side by side, so their lines come in either order.
                let lines = try String(contentsOfFile: marks, encoding: .utf8).split(separator: "\n").sorted()
                #expect(lines == ["during-drain", "in-flight"], "the real agent ran each command once: \(lines)")

                // Each simulated agent ran the drain's command once.
                let simProcess = try #require(sim)
                #expect(try await simProcess.stopFleetSimCountingRuns() == 20, "each of 20 simulated agents runs the command once")
            } catch {
                Issue.record("\(error)\n---- node 1 log (tail) ----\n\(first.process.logExcerpt(tail: 6000))\n---- node 2 log (tail) ----\n\(second?.logExcerpt(tail: 4000) ?? "")")
            }
            _ = try? await sim?.terminateAndWait(grace: .seconds(5))
            await agent?.stop()
            _ = try? await second?.terminateAndWait(grace: .seconds(5))
            await first.stop()
        }

        @Test("--drain-seconds outside 0...600 stops the start, naming the range")
        func drainSecondsChecked() async throws {
            let directory = try freeTemporaryDirectory(prefix: "gururmm-drain-flag")
            let process = try ManagedProcess.start(try gururmmBinary(), arguments: [
                "server", "--plain", "--data-dir", directory + "/data", "--agent-listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0",
                "--drain-seconds=601",
            ], logPath: directory + "/server.log")
            #expect(try await process.waitForExit(timeout: .seconds(30)) != 0)
            #expect(process.logContents().contains("--drain-seconds must be 0...600 seconds"), "\(process.logContents())")
        }

        @Test("SIGTERM on a node alone on PostgreSQL: its agents are closed at once without a hint, exit 0 promptly")
        func aloneStopsAtOnce() async throws {
            let postgres = try await PostgresTestServer.shared()
            let url = try await postgres.createDatabase(prefix: "drain_alone")
            let server = try await E2EServer.start(["--store", url, "--node-name", "solo"])
            await withFleet(on: server, agents: ["lonely"]) { server, agents in
                let (code, took, log) = try await server.process.sigtermAndWait(timeout: .seconds(15))
                #expect(code == 0, "exit code \(code); log tail:\n\(log.suffix(4000))")
                #expect(took < .seconds(5), "a node alone took \(took) to stop")
                #expect(log.contains("closing 1 agent session") && !log.contains("draining"), "log tail:\n\(log.suffix(4000))")
                let agentProcess = try #require(agents.first).process
                let shutdownCode = CloseCode.serverShutdown.rawValue
                try await waitUntil("the agent logs the server's shutdown close", timeout: .seconds(10)) {
                    agentProcess.logContents().contains("closed with \(shutdownCode)")
                }
                #expect(!agentProcess.logContents().contains("server="), "no hint when no other node is there")
            }
        }
    }
}
