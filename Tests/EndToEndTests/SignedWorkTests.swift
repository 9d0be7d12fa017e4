import Foundation
import RMMAPI
import RMMProtocol
import RMMServer
import RMMTestSupport
import Testing

extension EndToEnd {
    /// A relay between server and agent that forges, moves or rewrites what the server says.
    @Suite("End to end: signed work cannot be bent", .serialized)
    struct SignedWorkTests {
        @Test("a relay that injects forged commands far ahead in the stream costs nothing: every real command runs, once")
        func forgedCommandsAhead() async throws {
            let server = try await E2EServer.start()
            let proxy = try await FaultProxy.start(upstreamHost: "127.0.0.1", upstreamPort: server.agentPort)
            await withFleet(on: server, agents: ["relayed"], agentURL: { _ in "ws://127.0.0.1:\(proxy.port)" }) { server, agents in
                let ledger = server.directory + "/ledger"
                // From here on, every command frame is followed by a forged one at seq 2^52: had the
                // agent taken its seq, every later real command would look like a duplicate.
                proxy.setMode(.forgeCommandsAhead(seq: 1 << 52))
                for round in 1...3 {
                    let batch = try await server.api.run(["relayed"], "echo round-\(round) >> \(ledger)")
                    let result = try #require(try await server.api.finish(batch, timeout: 60).first)
                    #expect(result.state == .succeeded, "round \(round): \(result.state) \(result.reason ?? "")")
                }
                #expect(proxy.frameCounts.forged >= 3)
                let lines = try String(contentsOfFile: ledger, encoding: .utf8).split(separator: "\n")
                #expect(lines == ["round-1", "round-2", "round-3"])
                let log = try #require(agents.first).process.logContents()
                #expect(log.contains("signature check failed"), "the agent did not say it refused the forged frames")
                // The forged ids were never journaled: nothing about them lasts.
                let journal = String(decoding: FileManager.default.contents(atPath: try #require(agents.first).stateDirectory + "/journal/commands.journal") ?? Data(), as: UTF8.self)
                #expect(!journal.contains("\"f_"), "a forged command id reached the journal")
            }
            try? await proxy.stop()
        }

        @Test("an enrolled agent refuses a welcome that names another agent: it never adopts or saves it")
        func welcomeForAnotherAgent() async throws {
            let server = try await E2EServer.start()
            let proxy = try await FaultProxy.start(upstreamHost: "127.0.0.1", upstreamPort: server.agentPort)
            await withFleet(on: server, agents: ["bound"]) { server, agents in
                let agent = try #require(agents.first)
                let identityPath = agent.stateDirectory + "/identity.json"
                let before = try #require(FileManager.default.contents(atPath: identityPath))
                let agentId = try #require(try await server.api.agent(named: "bound")).id
                // The same length, another agent: the relay rewrites the id in every welcome.
                let other = String(agentId.dropLast()) + (agentId.hasSuffix("0") ? "1" : "0")
                proxy.setMode(.tamperMessages(type: "welcome", marker: agentId, replacement: other))
                await agent.stop()
                try agent.restart(server: "ws://127.0.0.1:\(proxy.port)")
                let process = agent.process
                try await waitUntil("the agent refuses the welcome", timeout: .seconds(20)) {
                    process.logContents().contains("welcome names agent \(other), but this agent is \(agentId)")
                }
                #expect(proxy.frameCounts.tampered >= 1)
                #expect(FileManager.default.contents(atPath: identityPath) == before, "identity.json changed")
                #expect(agent.process.isRunning, "the agent should keep trying, not stop")
                // Through a clean path it is itself again.
                proxy.setMode(.pass)
                proxy.setModeOfExistingConnections(.pass)
                try await server.api.waitOnline("bound")
                let batch = try await server.api.run(["bound"], "echo still-me")
                #expect(try await server.api.finish(batch).first?.stdout == "still-me\n")
            }
            try? await proxy.stop()
        }

        @Test("after restoring an older database the agent refuses its older config; min_version moves past it")
        func configRollbackAndRecovery() async throws {
            let server = try await E2EServer.start()
            await withFleet(on: server, agents: ["versioned"]) { server, agents in
                let database = server.dataDirectory + "/gururmm.sqlite"
                let backup = server.directory + "/backup"
                // A backup of the database as it is now (stopped, so the WAL is folded in).
                await server.stop()
                try FileManager.default.createDirectory(atPath: backup, withIntermediateDirectories: true)
                for suffix in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: database + suffix) {
                    try FileManager.default.copyItem(atPath: database + suffix, toPath: backup + "/db" + suffix)
                }
                try await server.restartOnSamePorts()
                try await server.api.waitOnline("versioned")
                var config: AgentConfig = try await server.api.call("GET", "/api/v1/config")
                for _ in 0..<2 { config = try await server.api.call("PUT", "/api/v1/config", body: config) }
                let applied = config.version
                let api = server.api
                try await waitUntil("the agent applies version \(applied)") {
                    try await api.agent(named: "versioned")?.configVersionApplied == applied
                }
                // The older database comes back: its config is older than what the agent applied.
                await server.stop()
                for suffix in ["", "-wal", "-shm"] {
                    try? FileManager.default.removeItem(atPath: database + suffix)
                    if FileManager.default.fileExists(atPath: backup + "/db" + suffix) {
                        try FileManager.default.copyItem(atPath: backup + "/db" + suffix, toPath: database + suffix)
                    }
                }
                try await server.restartOnSamePorts()
                try await server.api.waitOnline("versioned")
                let restored: AgentConfig = try await server.api.call("GET", "/api/v1/config")
                #expect(restored.version < applied)
                let process = try #require(agents.first).process
                try await waitUntil("the agent refuses the older config") {
                    process.logContents().contains("refused config version \(restored.version): config version \(restored.version) is older than version \(applied)")
                }
                // Commands still run; the config stays the one the agent applied.
                let batch = try await server.api.run(["versioned"], "echo ok")
                #expect(try await server.api.finish(batch).first?.state == .succeeded)
                // The operator moves past the agent's version.
                let saved: AgentConfig = try await server.api.call("PUT", "/api/v1/config?min_version=\(applied + 1)", body: restored)
                #expect(saved.version == applied + 1)
                try await waitUntil("the agent applies version \(saved.version)") {
                    try await api.agent(named: "versioned")?.configVersionApplied == saved.version
                }
                let (status, _) = try await server.api.raw("PUT", "/api/v1/config?min_version=NaN", body: try APICoding.encoder().encode(restored))
                #expect(status == 400)
            }
        }

        @Test("the server refuses an expiry beyond the protocol's maximum validity; the CLI says why")
        func expiryBeyondMaximum() async throws {
            try await withFleet(agents: ["valid"]) { server, _ in
                let beyond = Int(WorkLimits.maxValiditySeconds) + 1
                let (code, output) = try await server.cli(["run", "--agent", "valid", "--expires", "\(beyond)", "--", "true"])
                #expect(code != 0)
                #expect(output.contains("expires_seconds must be more than 0 and at most \(Int(WorkLimits.maxValiditySeconds))"), "\(output)")
                let (okCode, okOutput) = try await server.cli(["run", "--agent", "valid", "--expires", "\(Int(WorkLimits.maxValiditySeconds))", "--", "echo", "fine"])
                #expect(okCode == 0, "\(okOutput)")
                // A cancel's reason travels to the agent and back: bounded at the API, well inside the wire's bound.
                let batch = try await server.api.run(["valid"], "sleep 30")
                let id = try #require(batch.commands.first).commandId
                let long = try APICoding.encoder().encode(ReasonRequest(reason: String(repeating: "r", count: ReasonRequest.maxBytes + 1)))
                let (status, answer) = try await server.api.raw("POST", "/api/v1/commands/\(id)/cancel", body: long)
                #expect(status == 400 && String(decoding: answer, as: UTF8.self).contains("reason must be at most"))
                let fits = try APICoding.encoder().encode(ReasonRequest(reason: String(repeating: "r", count: ReasonRequest.maxBytes)))
                let (fitStatus, _) = try await server.api.raw("POST", "/api/v1/commands/\(id)/cancel", body: fits)
                #expect(fitStatus == 200)
                #expect(try await server.api.finish(batch).first?.state == .cancelled)
            }
        }
    }
}
