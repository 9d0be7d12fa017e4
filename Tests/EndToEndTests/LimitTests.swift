import Crypto
import Foundation
import RMMAPI
import RMMProtocol
import RMMServer
import RMMStore
import RMMTestSupport
import RMMTransport
import Testing

extension EndToEnd {
    /// The per-address limits on the agent port, the per-agent limit on pending commands, and
    /// enrollment-token revocation, against real processes with small limits set by flags.
    ///
    /// Hostile clients connect from other loopback addresses (127.0.0.2, …; Linux routes all of
    /// 127/8 to the loopback interface), so the real agents on 127.0.0.1 are bystanders.
    @Suite("End to end: limits", .serialized)
    struct LimitTests {
        /// Sends a whole plain HTTP request from `source` and returns the server's answer, which ends
        /// when the server closes the connection.
        private func httpAnswer(_ server: E2EServer, from source: String) async throws -> String {
            let client = try await RawTCPClient.connect(host: "127.0.0.1", port: server.agentPort, from: source)
            // A refused connection may be answered and closed before the request is written.
            try? await client.send("GET / HTTP/1.1\r\nHost: test\r\n\r\n")
            try await waitUntil("the agent port answers \(source) and closes", timeout: .seconds(20)) { client.isClosed }
            await client.close()
            return client.received
        }

        private func post(_ api: TestAPI, _ agents: [String]) async throws -> (Int, String) {
            let body = try APICoding.encoder().encode(
                RunRequest(agents: agents, all: nil, command: "echo queued", script: nil, interpreter: nil, timeoutSeconds: 60, expiresSeconds: 600))
            let (status, data) = try await api.raw("POST", "/api/v1/commands", body: body)
            return (status, String(decoding: data, as: UTF8.self))
        }

        @Test("unauthenticated connections over the per-address limit get 429 at accept; slow clients are cut off at the request deadline")
        func unauthenticatedPerAddress() async throws {
            let flags = ["--max-unauthenticated-per-address", "3", "--handshake-timeout", "4"]
            try await withFleet(agents: ["bystander"], serverArguments: flags) { server, _ in
                // Six clients from 127.0.0.2 that never finish an HTTP request (some send half of one,
                // some nothing). The server admits three, whichever its event loops take first, and
                // answers the other three with 429 at once.
                var clients: [RawTCPClient] = []
                for partial in ["GET /agent HTTP/1.1\r\nHost: test\r\n", "GET /agent HTT", nil, "GET /agent HTTP/1.1\r\n", "GE", nil] {
                    let client = try await RawTCPClient.connect(host: "127.0.0.1", port: server.agentPort, from: "127.0.0.2")
                    if let partial { try? await client.send(partial) }  // fails on a connection already refused
                    clients.append(client)
                }
                let all = clients
                try await waitUntil("three of six connections from 127.0.0.2 are refused", timeout: .seconds(20)) {
                    all.filter(\.isClosed).count >= 3
                }
                let refused = all.filter(\.isClosed)
                let holders = all.filter { !$0.isClosed }
                #expect(refused.count == 3 && holders.count == 3)
                for client in refused {
                    let refusal = client.received
                    #expect(refusal.hasPrefix("HTTP/1.1 429 Too Many Requests\r\n"), "\(refusal)")
                    #expect(refusal.contains("Retry-After: 4\r\n"))
                    #expect(refusal.contains("too many unauthenticated connections from 127.0.0.2: at most 3 per address"))
                    #expect(refusal.contains("--max-unauthenticated-per-address"))
                }
                // While the three hold their slots, every new connection from 127.0.0.2 is refused.
                for _ in 0..<5 {
                    #expect(try await httpAnswer(server, from: "127.0.0.2").hasPrefix("HTTP/1.1 429"))
                }

                // Other addresses are not limited by it: a plain request from 127.0.0.1 is answered, and
                // a new agent enrolls meanwhile.
                #expect(try await httpAnswer(server, from: "127.0.0.1").contains("This is the GuruRMM agent port"))
                let token = try await server.api.enrollToken(uses: 1)
                let newcomer = try E2EAgent.start(name: "newcomer", server: server.agentURL, enrollToken: token)

                // A client that has not finished its request within the deadline gets 408 and is closed,
                // so slow clients cannot keep their slots.
                try await waitUntil("the server closes the slow clients", timeout: .seconds(20)) { holders.allSatisfy(\.isClosed) }
                for holder in holders {
                    #expect(holder.received.hasPrefix("HTTP/1.1 408 Request Timeout\r\n"), "\(holder.received)")
                    #expect(holder.received.contains("no complete HTTP request within 4 s"))
                }
                #expect(try await httpAnswer(server, from: "127.0.0.2").contains("This is the GuruRMM agent port"),
                        "the slots are free again once the slow clients are gone")

                try await server.api.waitOnline("newcomer")
                let results = try await server.api.finish(try await server.api.run(["newcomer", "bystander"], "echo fine"))
                #expect(results.count == 2)
                #expect(results.allSatisfy { $0.state == .succeeded && $0.stdout == "fine\n" })
                await newcomer.stop()
            }
        }

        @Test("failed authentications: past the limit an address gets 4009 with the reason; agents elsewhere are unaffected")
        func failedAuthenticationsPerAddress() async throws {
            try await withFleet(agents: ["steady"], serverArguments: ["--max-failed-auth-per-minute", "3"]) { server, _ in
                let steady = try #require(try await server.api.agent(named: "steady"))
                let key = Curve25519.Signing.PrivateKey()

                // Three well-signed hellos for an agent that does not exist: 4001 each.
                for _ in 0..<3 {
                    let (link, challenge, stream) = try await hostileClient(server, from: "127.0.0.3")
                    var events = stream
                    let signature = try AgentProof.sign(nonce: challenge.nonce, agentId: "ag_nobody", key: key)
                    link.send(Envelope(.hello(Hello(agentId: "ag_nobody", signature: signature, facts: malloryFacts, stream: "s", received: nil))))
                    let closed = await closeOf(&events)
                    #expect(closed?.code == CloseCode.authenticationFailed.rawValue, "\(String(describing: closed))")
                }
                // The fourth connection is closed right after the upgrade, before any challenge.
                var (_, events) = try await hostileLink(server, from: "127.0.0.3")
                let first = await nextEvent(&events)
                guard case .closed(let closure)? = first else { throw E2EError("expected 4009 at once, got \(String(describing: first))") }
                #expect(closure.code == CloseCode.rateLimited.rawValue, "\(closure)")
                #expect(closure.reason.hasPrefix("too many failed authentications from 127.0.0.3 (3 in the last minute); retry in "), "\(closure)")
                #expect(closure.reason.hasSuffix(" s"))

                // Input that is not the protocol counts too.
                for _ in 0..<3 {
                    let (link, _, stream) = try await hostileClient(server, from: "127.0.0.4")
                    var events = stream
                    link.sendFrame(Data("this is not json".utf8))
                    #expect(await closeOf(&events)?.code == CloseCode.invalidPayload.rawValue)
                }
                (_, events) = try await hostileLink(server, from: "127.0.0.4")
                #expect(await closeOf(&events)?.code == CloseCode.rateLimited.rawValue)

                // So do frames over the size limit, closed by the link with its own reason (NIO's
                // automatic handler used to close first, reason-less, and the failure went uncounted).
                for _ in 0..<3 {
                    let client = try await RawAgentPortClient.connect(port: server.agentPort, from: "127.0.0.5")
                    _ = try #require(try await client.upgrade())
                    await client.send(RawWebSocket.frame(payload: [0x61], declaredLength: WireLimits.maxFrameBytes + 1))
                    let (outcome, reason) = await client.end(within: .seconds(10))
                    #expect(outcome == .close(.messageTooBig), "\(reason)")
                    #expect(reason == "websocket error: invalidFrameLength")
                }
                (_, events) = try await hostileLink(server, from: "127.0.0.5")
                #expect(await closeOf(&events)?.code == CloseCode.rateLimited.rawValue)

                // Other addresses still get a challenge; the agent that was connected all along never
                // noticed, still runs commands, and reconnects after an eviction without trouble.
                let (other, _, _) = try await hostileClient(server, from: "127.0.0.1")
                other.close(.normal, reason: "done")
                let batch = try await server.api.run(["steady"], "echo unaffected")
                #expect(try await server.api.finish(batch).first?.stdout == "unaffected\n")
                #expect(try await server.api.agent(named: "steady")?.epoch == steady.epoch, "the session was never interrupted")
                let api = server.api
                let _: OKView = try await api.call("POST", "/api/v1/agents/steady/evict", body: ReasonRequest(reason: "test"))
                try await waitUntil("steady reconnects", timeout: .seconds(30)) {
                    let now = try await api.agent(named: "steady")
                    return now.map { $0.epoch > steady.epoch && $0.status == .online } ?? false
                }
            }
        }

        @Test("pending commands per agent: at the limit a request is 429 and creates nothing, for any of its targets")
        func pendingPerAgent() async throws {
            try await withFleet(agents: ["away", "near"], serverArguments: ["--max-pending-per-agent", "3"]) { server, agents in
                let api = server.api
                await agents[0].stop()
                try await waitUntil("away is offline") { try await api.agent(named: "away")?.status == .offline }
                for _ in 0..<3 { _ = try await api.run(["away"], "echo queued", expires: 600) }

                let (status, body) = try await post(api, ["away"])
                #expect(status == 429, "\(body)")
                #expect(body.contains("nothing was queued: 1 target agent(s) already have the maximum of 3 pending"), "\(body)")
                #expect(body.contains("away (3)"))
                // A request for both agents is refused as a whole: `near` gets nothing either.
                let (both, bothBody) = try await post(api, ["near", "away"])
                #expect(both == 429, "\(bothBody)")
                let awayCommands: [CommandView] = try await api.call("GET", "/api/v1/commands?agent=away")
                let nearCommands: [CommandView] = try await api.call("GET", "/api/v1/commands?agent=near")
                #expect(awayCommands.count == 3)
                #expect(nearCommands.isEmpty)

                // Below the limit again once one ends.
                let _: CommandView = try await api.call("POST", "/api/v1/commands/\(awayCommands[0].id)/cancel", body: ReasonRequest(reason: "room"))
                #expect(try await post(api, ["near", "away"]).0 == 201)
            }
        }

        @Test("failed API authentications: past the limit the address gets 429 with Retry-After, even with a good token")
        func failedAPIAuthentications() async throws {
            let server = try await E2EServer.start(["--max-failed-auth-per-minute", "3"])
            do {
                let api = server.api
                for attempt in 1...3 {
                    let (status, _) = try await api.raw("GET", "/api/v1/agents", token: "grt_guess\(attempt)")
                    #expect(status == 401)
                }
                let (status, body) = try await api.raw("GET", "/api/v1/agents", token: "grt_guess4")
                #expect(status == 429)
                #expect(String(decoding: body, as: UTF8.self).contains("too many failed API authentications"))
                // The address is refused before its token is looked at: guessing on is pointless.
                #expect(try await api.raw("GET", "/api/v1/agents").0 == 429)
                #expect(try await api.raw("GET", "/api/v1/health").0 == 200, "health needs no token")
            } catch {
                Issue.record("\(error)\n\(server.process.logContents().suffix(4000))")
            }
            await server.stop()
        }

        @Test("enrollment tokens are listed without secrets and revoked by API and CLI; a revoked token is refused with 4001")
        func enrollmentTokenRevocation() async throws {
            try await withFleet(agents: []) { server, _ in
                let api = server.api
                let request = EnrollmentTokenRequest(expiresSeconds: 600, uses: 2)
                let first: EnrollmentTokenView = try await api.call("POST", "/api/v1/enrollment-tokens", body: request)
                let second: EnrollmentTokenView = try await api.call("POST", "/api/v1/enrollment-tokens", body: request)
                let secret = try #require(first.token)
                #expect(first.id.hasPrefix("et_") && first.revokedAt == nil && !first.revoked)

                let cli = ["--api", api.base, "--token", server.token]
                let json = try await runCLI(server, ["enroll-token", "list", "--json"] + cli)
                #expect(json.code == 0, "\(json.output)")
                #expect(json.output.contains(first.id) && json.output.contains(second.id))
                #expect(!json.output.contains("gre_"), "secrets are never listed")
                let revoke = try await runCLI(server, ["enroll-token", "revoke", first.id] + cli)
                #expect(revoke.code == 0 && revoke.output.contains("enrollment token \(first.id) revoked"), "\(revoke.output)")
                let _: OKView = try await api.call("DELETE", "/api/v1/enrollment-tokens/\(second.id)")
                let (missing, missingBody) = try await api.raw("DELETE", "/api/v1/enrollment-tokens/et_nope")
                #expect(missing == 404 && String(decoding: missingBody, as: UTF8.self).contains("no enrollment token with id et_nope"))

                let listed: [EnrollmentTokenView] = try await api.call("GET", "/api/v1/enrollment-tokens")
                #expect(listed.allSatisfy { $0.token == nil })
                #expect(listed.filter { $0.id == first.id || $0.id == second.id }.allSatisfy { $0.revoked && $0.revokedAt != nil && $0.usesLeft == 2 })
                let table = try await runCLI(server, ["enroll-token", "list"] + cli)
                #expect(table.output.contains("USES LEFT") && table.output.contains("revoked"), "\(table.output)")

                // Operators may list but not revoke; viewers may not list.
                let operatorView: APITokenView = try await api.call("POST", "/api/v1/tokens", body: APITokenRequest(name: "on-call", role: "operator"))
                let viewerView: APITokenView = try await api.call("POST", "/api/v1/tokens", body: APITokenRequest(name: "wall", role: "viewer"))
                let op = try #require(operatorView.token)
                let viewer = try #require(viewerView.token)
                #expect(try await api.raw("GET", "/api/v1/enrollment-tokens", token: op).0 == 200)
                #expect(try await api.raw("DELETE", "/api/v1/enrollment-tokens/\(first.id)", token: op).0 == 403)
                #expect(try await api.raw("GET", "/api/v1/enrollment-tokens", token: viewer).0 == 403)
                let audit: [AuditEntry] = try await api.call("GET", "/api/v1/audit")
                #expect(audit.contains { $0.action == "enrollment-tokens.revoke" && $0.targets == [first.id] })
                #expect(audit.contains { $0.action == "enrollment-tokens.revoke" && $0.targets == [second.id] })

                // Enrolling with the revoked token: 4001 with the reason, and a real agent stops.
                let key = Curve25519.Signing.PrivateKey()
                let publicKey = key.publicKey.rawRepresentation.base64EncodedString()
                let (link, challenge, stream) = try await hostileClient(server)
                var events = stream
                let signature = try AgentProof.sign(nonce: challenge.nonce, agentId: publicKey, key: key)
                link.send(Envelope(.enroll(Enroll(token: secret, publicKey: publicKey, signature: signature, facts: malloryFacts, stream: "s"))))
                let closed = await closeOf(&events)
                #expect(closed?.code == CloseCode.authenticationFailed.rawValue, "\(String(describing: closed))")
                #expect(closed?.reason == "enrollment refused: enrollment token was revoked")
                let agent = try E2EAgent.start(name: "late", server: server.agentURL, enrollToken: secret)
                #expect(try await agent.process.waitForExit(timeout: .seconds(30)) == 3, "the agent exits with its 'refused' status")
                #expect(agent.process.logContents().contains("enrollment token was revoked"))
                #expect(try await api.agent(named: "late") == nil)
            }
        }
    }
}
