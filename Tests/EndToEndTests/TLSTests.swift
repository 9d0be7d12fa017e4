import Foundation
import RMMAPI
import RMMProtocol
import RMMServer
import RMMTestSupport
import Testing

extension EndToEnd {
    /// The secure default: TLS on both listeners with a self-signed certificate, the pin carried by
    /// the enrollment token, agents and the CLI refusing anything else.
    @Suite("End to end: TLS and pinning", .serialized)
    struct TLSTests {
        /// Runs the CLI against the TLS server through its data directory (URL and pin from server.json).
        private func cli(_ server: E2EServer, _ arguments: [String]) async throws -> (code: Int32, output: String) {
            try await server.cli(arguments)
        }

        private static func cli(dataDirectory: String, _ arguments: [String]) async throws -> (code: Int32, output: String) {
            try await runCLI(dataDirectory: dataDirectory, arguments)
        }

        private func ready(_ server: E2EServer) throws -> ServerReady {
            try APICoding.decoder().decode(ServerReady.self, from: Data(contentsOf: URL(fileURLWithPath: server.dataDirectory + "/server.json")))
        }

        private func enrollToken(_ server: E2EServer) async throws -> String {
            let (code, output) = try await cli(server, ["enroll-token", "create", "--uses", "1"])
            try #require(code == 0, "enroll-token create failed: \(output)")
            return try #require(output.split(separator: "\n").last.map(String.init))
        }

        /// Runs `body` with a TLS server; stops it and every process `body` registers, and on failure
        /// attaches their logs.
        private func withTLSServer(_ body: (E2EServer, (ManagedProcess) -> Void) async throws -> Void) async throws {
            let server = try await E2EServer.start(tls: true)
            var processes: [ManagedProcess] = []
            do {
                try await body(server) { processes.append($0) }
            } catch {
                let logs = ([server.process] + processes).map { String($0.logContents().suffix(4000)) }.joined(separator: "\n----\n")
                Issue.record("\(error)\n\(logs)")
            }
            for process in processes { _ = try? await process.terminateAndWait(grace: .seconds(5)) }
            await server.stop()
        }

        private func waitOnline(_ server: E2EServer, _ name: String) async throws {
            let dataDirectory = server.dataDirectory
            try await waitUntil("\(name) online over TLS", timeout: .seconds(30)) {
                let (code, output) = try await Self.cli(dataDirectory: dataDirectory, ["agents"])
                return code == 0 && output.split(separator: "\n").contains { $0.contains(" \(name) ") && $0.contains("online") }
            }
        }

        @Test("by default: wss and https with a self-signed key the token pins; agent and CLI work with no trust step")
        func secureByDefault() async throws {
            try await withTLSServer { server, track in
                let facts = try ready(server)
                let pin = try #require(facts.tlsPin)
                #expect(facts.agentUrl.hasPrefix("wss://") && facts.apiUrl.hasPrefix("https://"))
                for file in ["tls.key", "tls.crt"] {
                    let attributes = try FileManager.default.attributesOfItem(atPath: server.dataDirectory + "/" + file)
                    #expect((attributes[.posixPermissions] as? Int) == 0o600, "\(file) is 0600")
                }
                // Nothing answers in plain text on either port.
                await #expect(throws: (any Error).self) { try await server.api.agents() }

                let token = try await enrollToken(server)
                #expect(EnrollmentToken(parsing: token).tlsTrust == pin, "the token carries the pin")
                let agent = try E2EAgent.start(name: "tls-agent", server: server.agentURL, enrollToken: token)
                track(agent.process)
                try await waitOnline(server, "tls-agent")
                let (code, output) = try await cli(server, ["run", "--agent", "tls-agent", "--", "echo secret-$((6*7))"])
                #expect(code == 0, "run failed: \(output)")
                #expect(output.contains("secret-42"))
                let identity = try String(contentsOfFile: agent.stateDirectory + "/identity.json", encoding: .utf8)
                #expect(identity.contains(pin), "the agent pinned the key at enrollment")

                // A restarted agent (no token any more) still trusts the server through its stored pin.
                await agent.stop()
                try agent.restart(server: server.agentURL)
                track(agent.process)
                let restarted = agent.process
                try await waitUntil("agent reconnects with its stored pin", timeout: .seconds(30)) {
                    restarted.logContents().contains("session resumed")
                }
            }
        }

        @Test("an agent whose token pins another key refuses the server and spends no token use")
        func refusesUnpinnedServer() async throws {
            try await withTLSServer { server, track in
                let token = try await enrollToken(server)
                let parsed = EnrollmentToken(parsing: token)
                let forged = token.replacingOccurrences(of: try #require(parsed.tlsTrust), with: String(repeating: "A", count: 43))
                let impostor = try E2EAgent.start(name: "misled", server: server.agentURL, enrollToken: forged)
                track(impostor.process)
                let misled = impostor.process
                try await waitUntil("agent names the pin mismatch", timeout: .seconds(30)) {
                    misled.logContents().contains("does not carry the pinned key")
                }
                let (_, agents) = try await cli(server, ["agents"])
                #expect(!agents.contains("misled"), "never enrolled")
                // The TLS handshake failed before enrollment, so the one-use token still works.
                let real = try E2EAgent.start(name: "real", server: server.agentURL, enrollToken: token)
                track(real.process)
                try await waitOnline(server, "real")
            }
        }

        @Test("plain ws:// needs --allow-plain; wss:// needs a pin; a wrong --api-pin is refused with a reason")
        func plainOnlyByChoice() async throws {
            try await withTLSServer { server, track in
                let binary = try gururmmBinary()
                let state = try freeTemporaryDirectory(prefix: "gururmm-plain-agent")
                let plainURL = server.agentURL.replacingOccurrences(of: "wss://", with: "ws://")
                let plain = try ManagedProcess.start(binary, arguments: ["agent", "--server", plainURL, "--state-dir", state, "--enroll-token", "x"],
                                                     logPath: state + "/agent.log")
                #expect(try await plain.waitForExit(timeout: .seconds(30)) == 3)
                #expect(plain.logContents().contains("--allow-plain"))

                let unpinned = try ManagedProcess.start(binary, arguments: ["agent", "--server", server.agentURL, "--state-dir", state + "/2", "--enroll-token", "gre_x.key"],
                                                        logPath: state + "/agent-2.log")
                #expect(try await unpinned.waitForExit(timeout: .seconds(30)) == 3)
                #expect(unpinned.logContents().contains("no TLS pin"))

                let (code, output) = try await cli(server, ["agents", "--api-pin", String(repeating: "B", count: 43)])
                #expect(code != 0)
                #expect(output.contains("pinned key"), "says why: \(output)")
            }
        }

        @Test("the long-poll downlink runs over TLS with the same pin")
        func longPollOverTLS() async throws {
            try await withTLSServer { server, track in
                let token = try await enrollToken(server)
                let state = try freeTemporaryDirectory(prefix: "gururmm-poll-agent")
                let agent = try ManagedProcess.start(try gururmmBinary(), arguments: [
                    "agent", "--server", server.agentURL, "--state-dir", state, "--enroll-token", token, "--name", "poller", "--downlink", "poll", "--log-level", "debug",
                ], logPath: state + "/agent.log")
                track(agent)
                try await waitOnline(server, "poller")
                let (code, output) = try await cli(server, ["run", "--agent", "poller", "--", "echo via-poll"])
                #expect(code == 0, "run failed: \(output)\n\(agent.logContents().suffix(3000))")
                #expect(output.contains("via-poll"))
                #expect(agent.logContents().contains("downlink poll"))
            }
        }
    }
}
