import Foundation
import RMMAPI
import RMMProtocol
import RMMServer
import RMMTestSupport
import Testing

extension EndToEnd {
    /// End to end with real processes on real sockets: the core delivery contract.
    @Suite("End to end: delivery", .serialized)
    struct DeliveryTests {
        @Test("a finished batch answers its long-poll at once, even after its last change was already seen")
        func finishedBatchAnswersAtOnce() async throws {
            try await withFleet(agents: ["quick"]) { server, _ in
                let batch = try await server.api.run(["quick"], "true")
                _ = try await server.api.finish(batch)
                // Poll again past every change: nothing new will ever come, so `done` must answer now
                // rather than after the wait (this once held `gururmm run` for the whole wait).
                let all: BatchChangesView = try await server.api.call("GET", "/api/v1/batches/\(batch.batchId)/changes?after=0")
                let started = Date()
                let again: BatchChangesView = try await server.api.call("GET", "/api/v1/batches/\(batch.batchId)/changes?after=\(all.version)&wait=30")
                #expect(again.done && again.commands.isEmpty)
                #expect(Date().timeIntervalSince(started) < 10, "answered after \(Date().timeIntervalSince(started)) s")
            }
        }

        @Test("hostname round trip")
        func hostnameRoundTrip() async throws {
            try await withFleet(agents: ["alpha"]) { server, _ in
                let batch = try await server.api.run(["alpha"], "hostname")
                let results = try await server.api.finish(batch)
                let result = try #require(results.first)
                #expect(result.state == .succeeded)
                #expect(result.exitCode == 0)
                #expect(result.stdout?.trimmingCharacters(in: .whitespacesAndNewlines) == ProcessInfo.processInfo.hostName)
                let states = result.events?.map(\.state) ?? []
                #expect(states == [.queued, .sent, .delivered, .running, .succeeded])
            }
        }

        @Test("4 KiB and 1 MiB scripts run intact")
        func scripts() async throws {
            try await withFleet(agents: ["alpha"]) { server, _ in
                for size in [4 * 1024, 1 << 20] {
                    // A script whose body is `size` bytes; it prints the checksum of its own filler.
                    let filler = String(repeating: "0123456789abcdef", count: size / 16)
                    let script = "cat <<'EOF' | wc -c\n\(filler)\nEOF\necho done\n"
                    let batch = try await server.api.runScript(["alpha"], script)
                    let result = try #require(try await server.api.finish(batch).first)
                    #expect(result.state == .succeeded, "size \(size): \(result.reason ?? "")")
                    let lines = (result.stdout ?? "").split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
                    #expect(lines == ["\(filler.utf8.count + 1)", "done"], "size \(size)")
                }
            }
        }

        @Test("fan-out reaches every agent exactly once")
        func fanOut() async throws {
            let names = ["a1", "a2", "a3", "a4"]
            try await withFleet(agents: names) { server, _ in
                let body = RunRequest(agents: nil, all: true, command: "echo from-$GURURMM", script: nil, interpreter: nil, timeoutSeconds: 30, expiresSeconds: 30)
                let batch: RunResponse = try await server.api.call("POST", "/api/v1/commands", body: body)
                #expect(batch.commands.count == names.count)
                let results = try await server.api.finish(batch)
                #expect(Set(results.map(\.agent)) == Set(names.map { Optional($0) }))
                for result in results {
                    #expect(result.state == .succeeded)
                    #expect(result.stdout == "from-1\n")
                }
            }
        }

        @Test("a command for an offline agent is delivered when it connects; another expires with a reason")
        func offlineAgent() async throws {
            try await withFleet(agents: ["sleepy"], serverArguments: ["--expiry-grace", "0"]) { server, agents in
                let agent = try #require(agents.first)
                await agent.stop()
                let api = server.api
                try await waitUntil("sleepy offline") { try await api.agent(named: "sleepy")?.status == .offline }

                let expiring = try await server.api.run(["sleepy"], "echo never", expires: 1)
                let expired = try #require(try await server.api.finish(expiring, timeout: 30).first)
                #expect(expired.state == .expired)
                #expect(expired.reason?.contains("offline since") == true, "reason: \(expired.reason ?? "nil")")

                let waiting = try await server.api.run(["sleepy"], "echo delivered-late", expires: 120)
                #expect(try await server.api.command(try #require(waiting.commands.first).commandId).state == .queued)
                try agent.restart(server: server.agentURL)
                let result = try #require(try await server.api.finish(waiting).first)
                #expect(result.state == .succeeded)
                #expect(result.stdout == "delivered-late\n")
            }
        }

        @Test("evict: the agent reconnects and the next command is delivered")
        func evictReconnectDeliver() async throws {
            try await withFleet(agents: ["evictee"]) { server, _ in
                let before = try #require(try await server.api.agent(named: "evictee"))
                let answer: OKView = try await server.api.call("POST", "/api/v1/agents/evictee/evict", body: ReasonRequest(reason: "test"))
                #expect(answer.ok)
                // Dispatched straight away: it may wait in the outbox while the agent reconnects.
                let batch = try await server.api.run(["evictee"], "echo after-evict")
                let result = try #require(try await server.api.finish(batch).first)
                #expect(result.state == .succeeded)
                #expect(result.stdout == "after-evict\n")
                let after = try #require(try await server.api.agent(named: "evictee"))
                #expect(after.epoch > before.epoch)
            }
        }

        @Test("the CLI's run exit codes: 0 all succeeded, 1 a failure, 2 not delivered")
        func cliExitCodes() async throws {
            try await withFleet(agents: ["cli"], serverArguments: ["--expiry-grace", "0"]) { server, agents in
                let base = ["--api", "http://127.0.0.1:\(server.apiPort)", "--token", server.token]
                func cli(_ args: [String]) async throws -> (Int32, String) { try await runCLI(server, args) }
                let ok = try await cli(["run"] + base + ["--agent", "cli", "--json", "--", "echo", "hi"])
                #expect(ok.0 == 0, "\(ok.1)")
                #expect(ok.1.contains("\"stdout\" : \"hi\\n\""), "\(ok.1)")
                let failed = try await cli(["run"] + base + ["--agent", "cli", "--", "echo streamed; exit 7"])
                #expect(failed.0 == 1, "\(failed.1)")
                #expect(failed.1.contains("[cli] streamed"), "live output is prefixed with the agent's name: \(failed.1)")
                #expect(failed.1.contains("cli: failed (exit 7)"), "\(failed.1)")
                let agent = try #require(agents.first)
                await agent.stop()
                let undelivered = try await cli(["run"] + base + ["--agent", "cli", "--expires", "1", "--", "true"])
                #expect(undelivered.0 == 2, "\(undelivered.1)")
                #expect(undelivered.1.contains("expired"), "\(undelivered.1)")
            }
        }
    }
}
