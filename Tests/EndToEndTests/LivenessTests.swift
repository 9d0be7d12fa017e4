import Foundation
import RMMAPI
import RMMProtocol
import RMMServer
import RMMTestSupport
import Testing

extension EndToEnd {
    /// Config push, heartbeats with metrics, graceful shutdown and the operator views.
    @Suite("End to end: liveness and config", .serialized)
    struct LivenessTests {
        @Test("a config change is pushed to connected agents, which confirm the version they applied")
        func configPushAndMetrics() async throws {
            try await withFleet(agents: ["c1", "c2"], fastLiveness: true) { server, _ in
                let api = server.api
                // Heartbeats carry host metrics (data frames, both ways).
                try await waitUntil("metrics in heartbeats") {
                    try await api.agents().allSatisfy { $0.metrics?.memoryTotalBytes != nil && $0.metrics?.uptimeSeconds != nil }
                }
                var config: AgentConfig = try await api.call("GET", "/api/v1/config")
                config.labels = ["site": "lab", "MY_KEY": "kept as is"]
                let saved: AgentConfig = try await api.call("PUT", "/api/v1/config", body: config)
                #expect(saved.version == config.version + 1)
                try await waitUntil("both agents applied version \(saved.version)") {
                    try await api.agents().allSatisfy { $0.configVersionApplied == saved.version && $0.configVersion == saved.version }
                }
                // An invalid config is refused with reasons, and nothing is pushed.
                var bad = saved
                bad.heartbeatDeadline = 1
                let (status, body) = try await api.raw("PUT", "/api/v1/config", body: try APICoding.encoder().encode(bad))
                #expect(status == 400)
                #expect(String(decoding: body, as: UTF8.self).contains("heartbeat_deadline"))
                try await waitUntil("agents online with a measured pong round trip") {
                    try await api.agents().allSatisfy { $0.online && $0.lastPongRttMs != nil }
                }
            }
        }

        @Test("SIGTERM shuts the server down cleanly; the agent comes back when it restarts")
        func gracefulShutdown() async throws {
            try await withFleet(agents: ["patient"]) { server, _ in
                server.process.signal(SIGTERM)
                let code = try await server.process.waitForExit(timeout: .seconds(15))
                #expect(code == 0, "server exit code after SIGTERM")
                try await server.restartOnSamePorts()
                try await server.api.waitOnline("patient")
                let batch = try await server.api.run(["patient"], "echo back")
                #expect(try await server.api.finish(batch).first?.state == .succeeded)
            }
        }

        @Test("the CLI lists agents and shows a command's history as JSON")
        func cliViews() async throws {
            try await withFleet(agents: ["viewed"]) { server, _ in
                let batch = try await server.api.run(["viewed"], "echo seen")
                let id = try #require(batch.commands.first).commandId
                _ = try await server.api.finish(batch)
                let base = ["--api", "http://127.0.0.1:\(server.apiPort)", "--token", server.token]
                let agents = try await runCLI(server, ["agents"] + base + ["--json"])
                #expect(agents.code == 0)
                #expect(agents.output.contains("\"name\" : \"viewed\""))
                #expect(agents.output.contains("\"status\" : \"online\""))
                let table = try await runCLI(server, ["agents"] + base)
                #expect(table.output.contains("viewed") && table.output.contains("online"))
                let show = try await runCLI(server, ["commands", "show", id] + base + ["--json"])
                #expect(show.code == 0)
                for state in ["queued", "sent", "delivered", "running", "succeeded"] {
                    #expect(show.output.contains("\"state\" : \"\(state)\""), "history has \(state)")
                }
                let list = try await runCLI(server, ["commands", "list"] + base + ["--agent", "viewed"])
                #expect(list.output.contains(id))
                let missing = try await runCLI(server, ["commands", "show", "c_nope"] + base)
                #expect(missing.code != 0)
                #expect(missing.output.contains("not found"))
            }
        }
    }
}

extension AgentView {
    var online: Bool { status == .online }
}

/// Runs the real CLI against a test server; returns its exit code and combined output.
func runCLI(_ server: E2EServer, _ arguments: [String]) async throws -> (code: Int32, output: String) {
    let log = server.directory + "/cli-\(UUID().uuidString).log"
    let process = try ManagedProcess.start(try gururmmBinary(), arguments: arguments, logPath: log)
    let code = try await process.waitForExit(timeout: .seconds(60))
    return (code, process.logContents())
}
