import Crypto
import Foundation
import RMMAPI
import RMMProtocol
import RMMServer
import RMMStore
import RMMTestSupport
import Testing

extension EndToEnd {
    /// Operator roles, token and agent revocation, and the audit log, through the real API.
    @Suite("End to end: access control and audit", .serialized)
    struct AccessTests {
        private func token(_ api: TestAPI, _ name: String, _ role: String) async throws -> String {
            let view: APITokenView = try await api.call("POST", "/api/v1/tokens", body: APITokenRequest(name: name, role: role))
            return try #require(view.token)
        }

        private func status(_ api: TestAPI, _ token: String, _ method: String, _ path: String, _ body: (any Encodable)? = nil) async throws -> Int {
            let data = try body.map { try APICoding.encoder().encode($0) }
            return try await api.raw(method, path, body: data, token: token).0
        }

        @Test("viewer reads, operator runs, admin administers; a revoked token is refused")
        func roles() async throws {
            try await withFleet(agents: ["target"]) { server, _ in
                let api = server.api
                let viewer = try await token(api, "dashboard", "viewer")
                let op = try await token(api, "on-call", "operator")
                let run = RunRequest(agents: ["target"], all: nil, command: "true", script: nil, interpreter: nil, timeoutSeconds: 30, expiresSeconds: 30)
                let newToken = APITokenRequest(name: "x", role: "viewer")

                #expect(try await status(api, viewer, "GET", "/api/v1/agents") == 200)
                #expect(try await status(api, viewer, "GET", "/api/v1/audit") == 200)
                #expect(try await status(api, viewer, "POST", "/api/v1/commands", run) == 403)
                #expect(try await status(api, viewer, "POST", "/api/v1/agents/target/evict", ReasonRequest(reason: nil)) == 403)
                #expect(try await status(api, op, "POST", "/api/v1/commands", run) == 201)
                #expect(try await status(api, op, "POST", "/api/v1/tokens", newToken) == 403)
                #expect(try await status(api, op, "PUT", "/api/v1/config", AgentConfig.defaults) == 403)
                #expect(try await status(api, op, "POST", "/api/v1/enrollment-tokens", EnrollmentTokenRequest(expiresSeconds: 60, uses: 1)) == 403)
                #expect(try await status(api, op, "POST", "/api/v1/agents/target/revoke", ReasonRequest(reason: nil)) == 403)
                #expect(try await status(api, server.token, "POST", "/api/v1/tokens", newToken) == 201)
                #expect(try await status(api, viewer, "POST", "/api/v1/tokens", APITokenRequest(name: "y", role: "superuser")) == 403)
                #expect(try await status(api, server.token, "POST", "/api/v1/tokens", APITokenRequest(name: "y", role: "superuser")) == 400)

                let tokens: [APITokenView] = try await api.call("GET", "/api/v1/tokens")
                #expect(tokens.allSatisfy { $0.token == nil }, "secrets are never listed")
                let id = try #require(tokens.first { $0.name == "on-call" }).id
                let _: OKView = try await api.call("DELETE", "/api/v1/tokens/\(id)")
                #expect(try await status(api, op, "GET", "/api/v1/agents") == 401)

                let audit: [AuditEntry] = try await api.call("GET", "/api/v1/audit")
                let runEntry = try #require(audit.first { $0.action == "commands.run" })
                #expect(runEntry.actor == "on-call" && runEntry.role == "operator")
                #expect(runEntry.remote.hasPrefix("127.0.0.1"))
                #expect(!runEntry.targets.isEmpty)
                #expect(audit.contains { $0.action == "tokens.revoke" && $0.targets == [id] })
                #expect(audit.contains { $0.action == "tokens.create" && $0.detail.contains("operator") })
                #expect(!audit.contains { $0.detail.contains("grt_") }, "no secret in the audit log")
            }
        }

        @Test("a revoked agent is disconnected, refused from then on, and the agent process stops")
        func agentRevocation() async throws {
            try await withFleet(agents: ["retired"]) { server, agents in
                let agent = try #require(agents.first)
                let answer: OKView = try await server.api.call("POST", "/api/v1/agents/retired/revoke", body: ReasonRequest(reason: "decommissioned"))
                #expect(answer.ok)
                let code = try await agent.process.waitForExit(timeout: .seconds(30))
                #expect(code == 3, "the agent exits with its 'refused' status")
                #expect(agent.process.logContents().contains("revoked"))
                #expect(try await server.api.agent(named: "retired")?.status == .revoked)
                let (status, body) = try await server.api.raw("POST", "/api/v1/commands", body: try APICoding.encoder().encode(
                    RunRequest(agents: ["retired"], all: nil, command: "true", script: nil, interpreter: nil, timeoutSeconds: 5, expiresSeconds: 5)))
                #expect(status == 409)
                #expect(String(decoding: body, as: UTF8.self).contains("revoked"))
                // Restarting it changes nothing: the server refuses it at the handshake.
                try agent.restart(server: server.agentURL)
                #expect(try await agent.process.waitForExit(timeout: .seconds(30)) == 3)
                let audit: [AuditEntry] = try await server.api.call("GET", "/api/v1/audit")
                #expect(audit.contains { $0.action == "agents.revoke" && $0.detail == "decommissioned" })
            }
        }

        @Test("an agent refuses a server whose signing key is not the one in its enrollment token")
        func pinnedServerKey() async throws {
            try await withFleet(agents: []) { server, _ in
                let token = try await server.api.enrollToken()
                let secret = WorkSigning.splitEnrollmentToken(token).secret
                // The same secret, but the key of some other server (an interceptor's, say).
                let otherKey = WorkSigning.tokenKeyPart(Curve25519.Signing.PrivateKey().publicKey.rawRepresentation.base64EncodedString())
                let agent = try E2EAgent.start(name: "careful", server: server.agentURL, enrollToken: secret + "." + otherKey)
                let code = try await agent.process.waitForExit(timeout: .seconds(30))
                #expect(code == 3)
                #expect(agent.process.logContents().contains("does not match"))
            }
        }
    }
}
