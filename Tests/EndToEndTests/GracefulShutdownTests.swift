import Foundation
import RMMAPI
import RMMProtocol
import RMMTestSupport
import Testing

extension EndToEnd {
    /// The server's lifecycle: SIGTERM is a normal stop (its `ServiceGroup`'s graceful shutdown).
    @Suite("End to end: graceful shutdown", .serialized)
    struct GracefulShutdownTests {
        /// Log lines written at error level or above. `StreamLogHandler` writes
        /// "TIMESTAMP LEVEL LABEL: …", so the level is the second field.
        static func errorLines(_ log: String) -> [String] {
            log.split(separator: "\n").map(String.init).filter { line in
                let fields = line.split(separator: " ", maxSplits: 2)
                return fields.count >= 2 && (fields[1] == "error" || fields[1] == "critical")
            }
        }

        @Test("SIGTERM with an agent connected: exit 0 promptly, no error-level log line, the agent told 'server shutdown' and back after a restart")
        func sigtermIsANormalStop() async throws {
            try await withFleet(agents: ["steady"]) { server, agents in
                let agent = try #require(agents.first)
                let before = try #require(try await server.api.agent(named: "steady"))
                #expect(before.status == .online)

                server.process.signal(SIGTERM)
                let code = try await server.process.waitForExit(timeout: .seconds(15))
                let log = server.process.logContents()
                #expect(code == 0, "exit code \(code); log tail:\n\(log.suffix(4000))")
                #expect(Self.errorLines(log).isEmpty, "error-level lines: \(Self.errorLines(log))")
                #expect(log.contains("closing 1 agent session"), "log tail:\n\(log.suffix(4000))")
                #expect(log.contains("server stopped"))

                // The agent heard the going-away close meant for a shutdown, not a dropped connection.
                let shutdownCode = CloseCode.serverShutdown.rawValue
                let agentProcess = agent.process
                try await waitUntil("agent logs the server's shutdown close", timeout: .seconds(10)) {
                    agentProcess.logContents().contains("closed with \(shutdownCode)")
                }

                try await server.restartOnSamePorts()
                let api = server.api
                try await waitUntil("agent reconnects to the restarted server", timeout: .seconds(60)) {
                    guard let view = try await api.agent(named: "steady") else { return false }
                    return view.status == .online && view.epoch > before.epoch
                }
            }
        }

        @Test("the error-line filter reads the level field, not words in messages")
        func errorLineFilter() {
            let log = """
            2026-12-05T03:50:30+0000 info gururmm.server: [RMMServer] no error here
            2026-12-05T03:50:31+0000 error gururmm.server: [RMMServer] broken
            2026-12-05T03:50:32+0000 debug gururmm.server: [ServiceLifecycle] error
            """
            #expect(Self.errorLines(log).count == 1)
        }
    }
}
