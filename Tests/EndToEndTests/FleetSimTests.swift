import Foundation
import RMMAPI
import RMMProtocol
import RMMServer
import RMMTestSupport
import Testing

extension EndToEnd {
    /// `gururmm fleet-sim`: many simulated agents in one process, against a real server.
    @Suite("End to end: fleet simulator", .serialized)
    struct FleetSimTests {
        /// Starts the simulator binary; its stdout and stderr go to `state/sim-RUN.log`.
        private func startSim(server: String, agents: Int, token: String?, state: String, run: Int, extra: [String] = []) throws -> ManagedProcess {
            var arguments = ["fleet-sim", "--server", server, "--agents", String(agents), "--state-dir", state,
                             "--max-backoff", "1", "--status-interval", "1", "--log-level", "notice"] + extra
            if server.hasPrefix("ws:") { arguments.append("--allow-plain") }
            if let token { arguments += ["--enroll-token", token] }
            return try ManagedProcess.start(try gururmmBinary(), arguments: arguments, logPath: state + "/sim-\(run).log")
        }

        /// Waits until exactly `count` simulated agents exist and all are online on connections newer
        /// than `after` (epoch per agent id); returns them.
        private func waitFleetOnline(_ api: TestAPI, count: Int, after: [String: Int] = [:], timeout: Duration = .seconds(15)) async throws -> [AgentView] {
            try await waitUntil("\(count) simulated agents online", timeout: timeout) {
                let agents = try await api.agents().filter { $0.name.hasPrefix("sim-") }
                return agents.count == count && agents.allSatisfy { $0.status == .online && $0.epoch > (after[$0.id] ?? 0) }
            }
            return try await api.agents().filter { $0.name.hasPrefix("sim-") }
        }

        /// Sends one command to every agent and waits until all have ended.
        private func runOnAll(_ api: TestAPI, _ command: String) async throws -> [CommandView] {
            let batch: RunResponse = try await api.call("POST", "/api/v1/commands", body: RunRequest(
                agents: nil, all: true, command: command, script: nil, interpreter: nil, timeoutSeconds: 30, expiresSeconds: 30))
            return try await api.finish(batch, timeout: 15)
        }

        @Test("50 simulated agents go online and run a command sent to all; restarted, they are the same 50 agents")
        func fiftyAgentsSurviveARestart() async throws {
            let server = try await E2EServer.start()
            let state = try freeTemporaryDirectory(prefix: "gururmm-fleet-sim")
            var sims: [ManagedProcess] = []
            do {
                let api = server.api
                let token = try await api.enrollToken(uses: 50)
                sims.append(try startSim(server: server.agentURL, agents: 50, token: token, state: state, run: 1))
                let first = try await waitFleetOnline(api, count: 50)
                // Against a loopback server each simulated agent is a host of its own (127/8).
                let hosts = Set(first.compactMap { $0.remoteAddress?.split(separator: ":").first.map(String.init) })
                #expect(hosts.count == 50 && hosts.allSatisfy { $0.hasPrefix("127.") }, "\(hosts.sorted().prefix(5))")

                let results = try await runOnAll(api, "echo hello")
                #expect(results.count == 50)
                #expect(results.allSatisfy { $0.state == .succeeded && $0.exitCode == 0 && $0.stdout == "sim\n" },
                        "\(results.filter { $0.state != .succeeded }.map { "\($0.agent ?? $0.agentId): \($0.state.rawValue) \($0.reason ?? "")" })")

                // SIGTERM: the agents close as shutting down, the simulator prints its summary and exits 0.
                let stopped = try #require(sims.last)
                #expect(try await stopped.terminateAndWait(grace: .seconds(10)) == 0)
                #expect(stopped.logContents().contains("fleet-sim summary"))
                let files = try FileManager.default.contentsOfDirectory(atPath: state).filter { !$0.hasSuffix(".log") }
                #expect(files == ["fleet-sim.json"], "one state file for the whole fleet")

                // The same state directory: the same agents, no new enrollment (the token is used up).
                sims.append(try startSim(server: server.agentURL, agents: 50, token: token, state: state, run: 2))
                let epochs = Dictionary(uniqueKeysWithValues: first.map { ($0.id, $0.epoch) })
                let second = try await waitFleetOnline(api, count: 50, after: epochs)
                #expect(Set(second.map(\.id)) == Set(first.map(\.id)))
                #expect(try await api.agents().count == 50)

                let again = try await runOnAll(api, "echo again")
                #expect(again.count == 50 && again.allSatisfy { $0.state == .succeeded })
                // Status lines come every second: wait for one that counts the command just run.
                let restarted = try #require(sims.last)
                try await waitUntil("the restarted simulator reports the command", timeout: .seconds(15)) {
                    restarted.logContents().contains("commands 50 received")
                }
                let status = restarted.logContents().split(separator: "\n").last { $0.contains("commands 50 received") } ?? ""
                #expect(status.contains("failed), 0 enrolled,"), "no agent enrolled again: \(status)")
            } catch {
                let logs = ([("server", server.process)] + sims.map { ("fleet-sim", $0) })
                    .map { "---- \($0.0) log (tail) ----\n" + $0.1.logExcerpt(tail: 6000) }
                    .joined(separator: "\n")
                Issue.record("\(error)\n\(logs)")
            }
            for sim in sims { _ = try? await sim.terminateAndWait(grace: .seconds(5)) }
            await server.stop()
        }

        @Test("with --fork, commands run for real with /bin/sh -c")
        func forked() async throws {
            let server = try await E2EServer.start()
            let state = try freeTemporaryDirectory(prefix: "gururmm-fleet-sim-fork")
            var sim: ManagedProcess?
            do {
                let api = server.api
                sim = try startSim(server: server.agentURL, agents: 3, token: try await api.enrollToken(uses: 3), state: state, run: 1,
                                   extra: ["--fork", "--fork-concurrency", "2"])
                _ = try await waitFleetOnline(api, count: 3)
                let results = try await runOnAll(api, "echo $((6*7)); echo oops >&2; exit 3")
                #expect(results.count == 3)
                #expect(results.allSatisfy { $0.state == .failed && $0.exitCode == 3 && $0.stdout == "42\n" && $0.stderr == "oops\n" },
                        "\(results.map { "\($0.state.rawValue) \($0.exitCode.map(String.init) ?? "-") \($0.stdout ?? "")" })")
            } catch {
                Issue.record("\(error)\n\(server.process.logExcerpt())\n----\n\(sim?.logExcerpt() ?? "")")
            }
            if let sim { _ = try? await sim.terminateAndWait(grace: .seconds(5)) }
            await server.stop()
        }

        @Test("over TLS, checking signatures: the token's pin is trusted, a few simulated agents go online and answer a command")
        func overTLS() async throws {
            let server = try await E2EServer.start(tls: true)
            let state = try freeTemporaryDirectory(prefix: "gururmm-fleet-sim-tls")
            var sim: ManagedProcess?
            do {
                let (created, tokenOutput) = try await server.cli(["enroll-token", "create", "--uses", "3"])
                try #require(created == 0, "enroll-token create failed: \(tokenOutput)")
                let token = try #require(tokenOutput.split(separator: "\n").last.map(String.init))
                sim = try startSim(server: server.agentURL, agents: 3, token: token, state: state, run: 1, extra: ["--verify-signatures"])
                let dataDirectory = server.dataDirectory
                try await waitUntil("3 simulated agents online over TLS", timeout: .seconds(15)) {
                    let (code, output) = try await runCLI(dataDirectory: dataDirectory, ["agents"])
                    return code == 0 && output.split(separator: "\n").filter { $0.contains(" sim-0000") && $0.contains("online") }.count == 3
                }
                let (code, output) = try await server.cli(["run", "--all", "--", "echo hi"])
                #expect(code == 0, "run failed (a refused signature would show as rejected): \(output)")
                #expect(output.components(separatedBy: "sim").count - 1 >= 3, "each agent's output: \(output)")
                // Saved at the latest when the simulator stops.
                #expect(try await sim?.terminateAndWait(grace: .seconds(10)) == 0)
                let saved = try String(contentsOfFile: state + "/fleet-sim.json", encoding: .utf8)
                #expect(saved.contains(try #require(EnrollmentToken(parsing: token).tlsTrust)), "the TLS pin is kept with the identities")
            } catch {
                Issue.record("\(error)\n\(server.process.logExcerpt())\n----\n\(sim?.logExcerpt() ?? "")")
            }
            if let sim { _ = try? await sim.terminateAndWait(grace: .seconds(5)) }
            await server.stop()
        }
    }
}
