import Foundation
import RMMAPI
import RMMProtocol
import RMMServer
import RMMStore
import RMMTestSupport
import Testing

extension EndToEnd {
    /// The server owns agent names, and the audit log names each acting token by id: with real
    /// `gururmm` server, agent and CLI processes.
    @Suite("End to end: agent names and audit", .serialized)
    struct NamesAndAuditTests {
        /// The name the agent keeps in its identity file in `stateDirectory`.
        private static func identityName(_ stateDirectory: String) -> String? {
            struct Identity: Decodable { var name: String? }
            guard let data = FileManager.default.contents(atPath: stateDirectory + "/identity.json") else { return nil }
            return (try? JSONDecoder().decode(Identity.self, from: data))?.name
        }

        private func audit(_ server: E2EServer) async throws -> [AuditEntry] {
            try await server.api.call("GET", "/api/v1/audit?limit=1000")
        }

        @Test("a taken name gets a suffix and the agent is told; a reconnect never renames; operators rename, refused when taken or invalid")
        func serverOwnsNames() async throws {
            let server = try await E2EServer.start()
            var agents: [E2EAgent] = []
            do {
                let enrollment: EnrollmentTokenView = try await server.api.call("POST", "/api/v1/enrollment-tokens", body: EnrollmentTokenRequest(expiresSeconds: 600, uses: 5))
                let token = try #require(enrollment.token)
                let first = try E2EAgent.start(name: "twin", server: server.agentURL, enrollToken: token)
                agents.append(first)
                try await server.api.waitOnline("twin")
                let second = try E2EAgent.start(name: "Twin", server: server.agentURL, enrollToken: token)
                agents.append(second)
                try await server.api.waitOnline("Twin-2")
                let (firstState, secondState, secondProcess) = (first.stateDirectory, second.stateDirectory, second.process)
                try await waitUntil("the second agent stores the name it was given", timeout: .seconds(30)) {
                    Self.identityName(secondState) == "Twin-2" && secondProcess.logContents().contains("the server names this agent 'Twin-2' (it proposed 'Twin')")
                }
                #expect(Self.identityName(firstState) == "twin")

                // A restart says hello proposing "Twin" again: the name stays.
                try await second.kill()
                try second.restart(server: server.agentURL)
                try await server.api.waitOnline("Twin-2")
                #expect(try await server.api.agents().map(\.name).sorted() == ["Twin-2", "twin"])

                // Operators rename; the agent learns it at its next connection.
                var (code, output) = try await server.cli(["agents", "rename", "Twin-2", "db-1"])
                #expect(code == 0 && output.contains("is now named 'db-1'"), "\(output)")
                (code, output) = try await server.cli(["agents", "rename", "db-1", "TWIN"])
                #expect(code != 0 && output.contains("agent name 'TWIN' is taken by agent"), "\(output)")
                (code, output) = try await server.cli(["agents", "rename", "db-1", String(repeating: "x", count: 65)])
                #expect(code != 0 && output.contains("at most 64 characters") && output.contains("400"), "\(output)")
                for bad in [#"{"name":""}"#, #"{"name":"a\u0000b"}"#, #"{"name":"a\nb"}"#] {
                    let (status, body) = try await server.api.raw("POST", "/api/v1/agents/db-1/rename", body: Data(bad.utf8))
                    #expect(status == 400, "\(bad): \(String(decoding: body, as: UTF8.self))")
                }
                #expect(try await server.api.raw("POST", "/api/v1/agents/nobody/rename", body: Data(#"{"name":"x"}"#.utf8)).0 == 404)
                (code, output) = try await server.cli(["agents", "evict", "DB-1"])
                #expect(code == 0, "\(output)")
                try await waitUntil("the renamed agent is told its name on reconnecting", timeout: .seconds(30)) {
                    Self.identityName(secondState) == "db-1"
                }
                // Names resolve case-insensitively as targets.
                let batch = try await server.api.run(["DB-1", "TWIN"], "true")
                #expect(Set(batch.commands.map(\.agent)) == ["db-1", "twin"])

                // Audit: each enrollment names its enrollment token's id; the rename, the admin token's.
                let tokens: [APITokenView] = try await server.api.call("GET", "/api/v1/tokens")
                let admin = try #require(tokens.first { $0.name == "admin" })
                let log = try await audit(server)
                let enrollments = log.filter { $0.action == "agents.enroll" }
                #expect(enrollments.count == 2)
                #expect(enrollments.allSatisfy { $0.tokenId == enrollment.id && $0.remote.hasPrefix("127.0.0.1:") })
                let renames = log.filter { $0.action == "agents.rename" }
                #expect(renames.count == 1 && renames.first?.tokenId == admin.id && renames.first?.detail == "'Twin-2' → 'db-1'")
                (code, output) = try await server.cli(["audit"])
                #expect(code == 0 && output.contains("TOKEN") && output.contains(admin.id) && output.contains(enrollment.id), "\(output)")
            } catch {
                Issue.record("\(error)\n\(server.process.logContents().suffix(4000))")
            }
            for agent in agents { await agent.stop() }
            await server.stop()
        }

        @Test("every operator state change is audited with the token's id; a refused one leaves no entry")
        func everyChangeAudited() async throws {
            let server = try await E2EServer.start()
            do {
                let api = server.api
                let tokens: [APITokenView] = try await api.call("GET", "/api/v1/tokens")
                let admin = try #require(tokens.first { $0.name == "admin" })
                let before = try await audit(server).count

                // Refused actions: nothing recorded.
                #expect(try await api.raw("DELETE", "/api/v1/tokens/tk_nobody").0 == 404)
                #expect(try await api.raw("DELETE", "/api/v1/enrollment-tokens/et_nobody").0 == 404)
                #expect(try await api.raw("POST", "/api/v1/agents/nobody/revoke").0 == 404)
                #expect(try await api.raw("POST", "/api/v1/tokens", body: Data(#"{"name":"","role":"viewer"}"#.utf8)).0 == 400)
                #expect(try await audit(server).count == before)

                let created: APITokenView = try await api.call("POST", "/api/v1/tokens", body: APITokenRequest(name: "ci", role: "operator"))
                _ = try await api.raw("DELETE", "/api/v1/tokens/\(created.id)")
                let enrollment: EnrollmentTokenView = try await api.call("POST", "/api/v1/enrollment-tokens", body: EnrollmentTokenRequest(expiresSeconds: 600, uses: 1))
                _ = try await api.raw("DELETE", "/api/v1/enrollment-tokens/\(enrollment.id)")
                let config: AgentConfig = try await api.call("GET", "/api/v1/config")
                let saved: AgentConfig = try await api.call("PUT", "/api/v1/config", body: config)

                let log = try await audit(server).prefix(5).reversed().map { $0 }
                #expect(log.map(\.action) == ["tokens.create", "tokens.revoke", "enrollment-tokens.create", "enrollment-tokens.revoke", "config.update"])
                #expect(log.allSatisfy { $0.tokenId == admin.id && $0.actor == "admin" })
                #expect(log[0].targets == [created.id] && log[1].targets == [created.id])
                #expect(log[2].targets == [enrollment.id] && log[3].targets == [enrollment.id])
                #expect(log[4].detail == "config version \(saved.version)")
                // The server's own creation of the bootstrap token is there too.
                #expect(try await audit(server).contains { $0.action == "tokens.create" && $0.actor == "server" && $0.targets == [admin.id] })
            } catch {
                Issue.record("\(error)\n\(server.process.logContents().suffix(4000))")
            }
            await server.stop()
        }
    }
}
