import Foundation
import NIOCore
import RMMAPI
import RMMProtocol
import RMMServer
import RMMStore
import RMMTestSupport
import RMMTransport
import Testing

extension EndToEnd {
    /// The operator's path: `gururmm run` costs a bounded number of requests whatever the fleet's
    /// size, and the server streams a batch's results without holding them.
    @Suite("End to end: operator path", .serialized)
    struct OperatorPathTests {
        /// Starts a fleet simulator with `agents` agents, names prefixed `prefix`.
        private func startSim(_ server: E2EServer, agents: Int, token: String, state: String, prefix: String) throws -> ManagedProcess {
            try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
            return try ManagedProcess.start(try gururmmBinary(), arguments: [
                "fleet-sim", "--server", server.agentURL, "--allow-plain", "--agents", String(agents), "--state-dir", state,
                "--name-prefix", prefix, "--enroll-token", token, "--max-backoff", "1", "--status-interval", "1", "--log-level", "notice",
            ], logPath: state + "/sim.log")
        }

        private func waitOnline(_ api: TestAPI, count: Int) async throws {
            try await waitUntil("\(count) agents online", timeout: .seconds(30)) {
                try await api.agents().filter(\.online).count == count
            }
        }

        /// Runs the CLI through `proxy`; returns its exit code, output and how many requests (one
        /// connection each: the CLI closes every connection after its answer) it made.
        private func countedRun(_ server: E2EServer, proxy: FaultProxy, _ arguments: [String]) async throws -> (code: Int32, output: String, requests: Int) {
            let before = proxy.acceptedCount
            let (code, output) = try await runCLI(server, ["run", "--api", "http://127.0.0.1:\(proxy.port)", "--token", server.token] + arguments)
            return (code, output, proxy.acceptedCount - before)
        }

        @Test("run --all makes the same few requests to 5 agents and to 40, in text and --json, and says state")
        func requestsDoNotGrowWithAgents() async throws {
            let server = try await E2EServer.start()
            let proxy = try await FaultProxy.start(upstreamHost: "127.0.0.1", upstreamPort: server.apiPort)
            let state = try freeTemporaryDirectory(prefix: "gururmm-oppath")
            var sims: [ManagedProcess] = []
            do {
                let token = try await server.api.enrollToken(uses: 100)
                sims.append(try startSim(server, agents: 5, token: token, state: state + "/a", prefix: "few-"))
                try await waitOnline(server.api, count: 5)
                let small = try await countedRun(server, proxy: proxy, ["--all", "--", "echo hi"])
                #expect(small.code == 0, "\(small.output)")
                #expect(small.output.contains("--- 5/5 succeeded"), "\(small.output)")
                let smallJSON = try await countedRun(server, proxy: proxy, ["--all", "--json", "--", "echo hi"])
                #expect(smallJSON.code == 0, "\(smallJSON.output)")

                sims.append(try startSim(server, agents: 35, token: token, state: state + "/b", prefix: "many-"))
                try await waitOnline(server.api, count: 40)
                let large = try await countedRun(server, proxy: proxy, ["--all", "--", "echo hi"])
                #expect(large.code == 0, "\(large.output)")
                #expect(large.output.contains("--- 40/40 succeeded"), "\(large.output)")
                let largeJSON = try await countedRun(server, proxy: proxy, ["--all", "--json", "--", "echo hi"])
                #expect(largeJSON.code == 0, "\(largeJSON.output)")

                // Text output names each line's agent from the stream (the run asked for no list).
                let named = large.output.split(separator: "\n").filter { $0.hasSuffix("] sim") }
                #expect(named.count == 40 && Set(named).count == 40 && named.allSatisfy { $0.hasPrefix("[few-") || $0.hasPrefix("[many-") },
                        "\(large.output)")
                // POST, then one events stream (the batch ends well inside its minute); --json adds
                // the results stream. Before, the CLI also made one GET per command.
                #expect(small.requests == 2 && large.requests == 2, "text: \(small.requests) requests for 5 agents, \(large.requests) for 40")
                #expect(smallJSON.requests == 3 && largeJSON.requests == 3, "--json: \(smallJSON.requests) for 5, \(largeJSON.requests) for 40")

                // The --json shape is unchanged but for `state` (was `status`): every result, in order, once.
                let start = try #require(largeJSON.output.firstIndex(of: "{"))
                let object = try #require(try JSONSerialization.jsonObject(with: Data(largeJSON.output[start...].utf8)) as? [String: Any])
                let results = try #require(object["results"] as? [[String: Any]])
                #expect(results.count == 40)
                #expect(results.allSatisfy { $0["state"] as? String == "succeeded" && $0["status"] == nil && $0["stdout"] as? String == "sim\n" },
                        "\(results.prefix(2))")
                #expect(Set(results.compactMap { $0["command_id"] as? String }).count == 40)
            } catch {
                Issue.record("\(error)")
            }
            for sim in sims { _ = try? await sim.terminateAndWait(grace: .seconds(10)) }
            try? await proxy.stop()
            await server.stop()
        }

        @Test("list_commands false answers with the count alone; a compact events stream names every agent; a bad view is a 400")
        func compactForms() async throws {
            let server = try await E2EServer.start()
            let state = try freeTemporaryDirectory(prefix: "gururmm-compact")
            var sims: [ManagedProcess] = []
            do {
                let token = try await server.api.enrollToken(uses: 10)
                sims.append(try startSim(server, agents: 3, token: token, state: state, prefix: "cf-"))
                try await waitOnline(server.api, count: 3)
                let request = RunRequest(agents: nil, all: true, command: "true", script: nil, interpreter: nil, timeoutSeconds: 30, expiresSeconds: 60,
                                         listCommands: false)
                let created: RunResponse = try await server.api.call("POST", "/api/v1/commands", body: request)
                #expect(created.commands.isEmpty && created.commandCount == 3)
                let (rawStatus, rawBody) = try await server.api.raw("POST", "/api/v1/commands",
                                                                    body: Data(#"{"all":true,"command":"true","list_commands":false}"#.utf8))
                #expect(rawStatus == 201 && !String(decoding: rawBody, as: UTF8.self).contains("agent_id"))
                let one = try #require(try await server.api.agents().first?.name)
                let listed = try await server.api.run([one], "true")
                #expect(listed.commands.count == 1 && listed.commandCount == nil, "the default answer lists the commands and no count")
                let finals = try await server.api.client.batch(created.batchId).follow(output: true) { _ in }
                #expect(finals.count == 3 && finals.values.allSatisfy { $0.state == .succeeded && $0.agent?.hasPrefix("cf-") == true })
                for bad in ["brief", "FULL", "", "compact%20", "%00", String(repeating: "x", count: 5000)] {
                    let (status, body) = try await server.api.raw("GET", "/api/v1/batches/\(created.batchId)/events?view=\(bad)")
                    let message = String(decoding: body, as: UTF8.self)
                    // A NUL is refused before any route looks at the query.
                    let expected = bad == "%00" ? "NUL characters" : "view must be one of: full, compact"
                    #expect(status == 400 && message.contains(expected), "view=\(bad): \(status) \(message)")
                }
            } catch {
                Issue.record("\(error)")
            }
            for sim in sims { _ = try? await sim.terminateAndWait(grace: .seconds(10)) }
            await server.stop()
        }

        @Test("the server streams 400 commands × 1 MiB of output (results, events and changes) with its peak memory bounded by a page, not the total")
        func resultsStreamInBoundedMemory() async throws {
            let commands = 400, size = 1 << 20
            let server = try await E2EServer.start()
            do {
                // The output is written straight into the store while the server is stopped: a
                // batch of finished commands as agents would have left it.
                await server.stop()
                let store = try SQLiteStore(path: server.dataDirectory + "/gururmm.sqlite")
                _ = try await store.createEnrollmentToken(hash: "bulk", expiresAt: nil, uses: 1, now: Date())
                let agent = try await store.enrollAgent(tokenHash: "bulk", publicKey: "bulk-key",
                                                        facts: AgentFacts(name: "bulk", hostname: "bulk", os: "linux", version: "1"), now: Date())
                let now = Date()
                let records = (0..<commands).map { index in
                    CommandRecord(id: String(format: "c_bulk%06d", index), agentId: agent.id, batchId: "b_bulk", kind: .shell, text: "yes",
                                  interpreter: nil, timeoutSeconds: 30, createdAt: now, expiresAt: now.addingTimeInterval(600), state: .sent,
                                  updatedAt: now, createdBy: "test")
                }
                try await store.insertCommands(records)
                for record in records {
                    let output = Data(repeating: UInt8(ascii: "a") + UInt8(record.id.utf8.last.map { $0 % 26 } ?? 0), count: size)
                    _ = try await store.finish(commandId: record.id, outcome: CommandOutcome(state: .succeeded, exitCode: 0, stdout: output), now: now)
                }
                try await server.restartOnSamePorts()

                let pid = server.process.pid
                for (path, expectLines) in [("/api/v1/batches/b_bulk/results", commands + 1), ("/api/v1/batches/b_bulk/events?after=0&wait=0", nil)] {
                    let measured = resetPeak(pid)
                    let before = try #require(memory(pid))
                    var lines = 0, bytes = 0, ended = false
                    let reply = try await StreamedHTTP.lines(
                        .GET, host: "127.0.0.1", port: server.apiPort, path: path, tls: nil,
                        headers: [("Authorization", "Bearer \(server.token)")], idleTimeout: .seconds(60), maxLine: 16 << 20
                    ) { line in
                        lines += 1
                        bytes += line.count
                        if line.starts(with: Data(#"{"end""#.utf8)) { ended = true }
                    }
                    #expect(reply.status == 200)
                    #expect(ended, "\(path) ended with its end line")
                    if let expectLines { #expect(lines == expectLines, "\(path): \(lines) lines") }
                    let after = try #require(memory(pid))
                    let grown = after.peak - before.resident
                    // More than 400 MiB went out; a server that gathered the answer would hold at least that.
                    #expect(bytes > commands * size, "\(path): \(bytes) bytes")
                    if measured {
                        #expect(grown < 64 << 20, "\(path): peak RSS grew \(grown >> 20) MiB serving \(bytes >> 20) MiB (before \(before.resident >> 20) MiB)")
                        print("operator path: \(path): peak RSS grew \(grown >> 20) MiB serving \(bytes >> 20) MiB (RSS before \(before.resident >> 20) MiB)")
                    }
                }
                // The one-object long-poll is written page by page too.
                let measured = resetPeak(pid)
                let before = try #require(memory(pid))
                let (status, bytes) = try await countBody(port: server.apiPort, path: "/api/v1/batches/b_bulk/changes?after=0", token: server.token)
                let after = try #require(memory(pid))
                #expect(status == 200 && bytes > commands * size, "changes: HTTP \(status), \(bytes) bytes")
                if measured {
                    #expect(after.peak - before.resident < 64 << 20, "changes: peak RSS grew \((after.peak - before.resident) >> 20) MiB")
                    print("operator path: changes: peak RSS grew \((after.peak - before.resident) >> 20) MiB serving \(bytes >> 20) MiB")
                }
            } catch {
                Issue.record("\(error)")
            }
            await server.stop()
        }

        /// Resets the process's peak RSS (VmHWM) to its current RSS; false (saying why) when this
        /// kernel or sandbox refuses, and the peak-memory measurement is then skipped.
        func resetPeak(_ pid: pid_t) -> Bool {
            do {
                try "5".write(toFile: "/proc/\(pid)/clear_refs", atomically: false, encoding: .utf8)
                return true
            } catch {
                print("operator path: SKIPPED the peak-memory measurement: cannot reset the server's peak RSS (/proc/\(pid)/clear_refs: \(error))")
                return false
            }
        }

        /// The process's resident and peak resident bytes.
        func memory(_ pid: pid_t) -> (resident: Int, peak: Int)? {
            guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
            func kib(_ key: String) -> Int? {
                status.split(separator: "\n").first { $0.hasPrefix(key + ":") }?
                    .split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Int($0) }
            }
            guard let resident = kib("VmRSS"), let peak = kib("VmHWM") else { return nil }
            return (resident * 1024, peak * 1024)
        }

        /// Reads a whole answer, counting its bytes without keeping them (the body is one long line).
        func countBody(port: Int, path: String, token: String) async throws -> (Int, Int) {
            var total = 0
            let reply = try await StreamedHTTP.chunks(
                .GET, host: "127.0.0.1", port: port, path: path, tls: nil, headers: [("Authorization", "Bearer \(token)")],
                idleTimeout: .seconds(60)
            ) { total += $0.readableBytes }
            return (reply.status, total)
        }
    }
}
