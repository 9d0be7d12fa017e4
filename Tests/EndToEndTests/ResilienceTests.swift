import Foundation
import RMMAPI
import RMMProtocol
import RMMServer
import RMMTestSupport
import Testing

extension EndToEnd {
    /// Crashes, restarts and broken paths: nothing is lost and nothing runs twice.
    @Suite("End to end: resilience", .serialized)
    struct ResilienceTests {
        @Test("server SIGKILLed with queued and in-flight commands: after restart each finishes exactly once")
        func serverKilledMidFlight() async throws {
            try await withFleet(agents: ["busy", "late"]) { server, agents in
                let ledger = server.directory + "/ledger"
                let late = try #require(agents.last)
                await late.stop()
                let api = server.api
                try await waitUntil("late offline") { try await api.agent(named: "late")?.status == .offline }

                // Eight for `busy` (four run at once, four wait on the agent), three queued for `late`.
                var batches: [RunResponse] = []
                for i in 0..<8 { batches.append(try await server.api.run(["busy"], "sleep 1; echo busy-\(i) >> \(ledger)")) }
                for i in 0..<3 { batches.append(try await server.api.run(["late"], "echo late-\(i) >> \(ledger)")) }
                let busyIds = batches.prefix(8).map { $0.commands[0].commandId }
                // Under load one poll of eight commands can take longer than a command runs: a state
                // already past `running` counts too (the agent is working through the queue either way).
                try await waitUntil("some busy command running") {
                    let states = try await busyIds.asyncMap { try await api.command($0).state }
                    return states.contains { $0 == .running || $0.isTerminal }
                }
                try await server.killAndRestart()
                try late.restart(server: server.agentURL)

                var results: [CommandView] = []
                for batch in batches { results.append(contentsOf: try await server.api.finish(batch, timeout: 90)) }
                for result in results { #expect(result.state == .succeeded, "\(result.id): \(result.state) \(result.reason ?? "")") }
                let lines = try String(contentsOfFile: ledger, encoding: .utf8).split(separator: "\n").map(String.init)
                let expected = (0..<8).map { "busy-\($0)" } + (0..<3).map { "late-\($0)" }
                #expect(lines.sorted() == expected.sorted(), "ledger: \(lines)")
            }
        }

        @Test("agent killed mid-command: the command ends interrupted after the agent restarts")
        func agentKilledMidCommand() async throws {
            try await withFleet(agents: ["fragile"]) { server, agents in
                let agent = try #require(agents.first)
                let marker = server.directory + "/started"
                let batch = try await server.api.run(["fragile"], "touch \(marker); sleep 97.3", timeout: 120)
                let id = try #require(batch.commands.first).commandId
                let api = server.api
                try await waitUntil("command running") {
                    try await api.command(id).state == .running && FileManager.default.fileExists(atPath: marker)
                }
                try await agent.kill()
                try agent.restart(server: server.agentURL)
                let result = try #require(try await server.api.finish(batch).first)
                #expect(result.state == .interrupted)
                #expect(result.reason?.contains("restart") == true, "reason: \(result.reason ?? "nil")")
                // Its process group is gone too: nothing of it keeps running unattended.
                try await waitUntil("orphaned sleep killed", timeout: .seconds(15)) {
                    !(try Self.processes().contains { $0.contains("sleep 97.3") })
                }
            }
        }

        @Test("half-open old connection: the agent's new session gets the command, exactly once")
        func halfOpenReconnect() async throws {
            let server = try await E2EServer.start()
            let proxy = try await FaultProxy.start(upstreamHost: "127.0.0.1", upstreamPort: server.agentPort)
            var agent: E2EAgent?
            do {
                try await server.api.useFastLiveness()
                let token = try await server.api.enrollToken()
                agent = try E2EAgent.start(name: "tunnel", server: "ws://127.0.0.1:\(proxy.port)", enrollToken: token)
                try await server.api.waitOnline("tunnel")
                let epoch = try #require(try await server.api.agent(named: "tunnel")).epoch
                let ledger = server.directory + "/ledger"

                // The path dies silently: no bytes, no FIN, both sockets stay open.
                proxy.setModeOfExistingConnections(.halfOpen)
                let batch = try await server.api.run(["tunnel"], "echo once >> \(ledger); echo ok")
                let result = try #require(try await server.api.finish(batch, timeout: 60).first)
                #expect(result.state == .succeeded)
                #expect(result.stdout == "ok\n")
                #expect(try String(contentsOfFile: ledger, encoding: .utf8) == "once\n")
                let now = try #require(try await server.api.agent(named: "tunnel"))
                #expect(now.epoch > epoch)
                #expect(proxy.acceptedCount >= 2)
            } catch {
                Issue.record("\(error)\n---- server ----\n\(server.process.logContents().suffix(6000))\n---- agent ----\n\(agent?.process.logContents().suffix(6000) ?? "")")
            }
            await agent?.stop()
            await server.stop()
            try? await proxy.stop()
        }

        /// Command lines of all processes (for checking that a process group really died).
        static func processes() throws -> [String] {
            try FileManager.default.contentsOfDirectory(atPath: "/proc").compactMap { entry in
                guard Int(entry) != nil, let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { return nil }
                return String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
            }
        }
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for element in self { out.append(try await transform(element)) }
        return out
    }
}
