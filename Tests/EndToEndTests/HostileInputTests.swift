import Crypto
import Foundation
import RMMProtocol
import RMMServer
import RMMTestSupport
import RMMTransport
import Testing

extension EndToEnd {
    /// Malformed frames, unknown types, oversized messages and bad credentials each get a clear close
    /// code; a real agent on the same server keeps working throughout.
    @Suite("End to end: hostile input", .serialized)
    struct HostileInputTests {
        @Test("each kind of bad input is closed with its own code, and a real agent is unaffected")
        func hostileInput() async throws {
            try await withFleet(agents: ["honest"], serverArguments: ["--handshake-timeout", "1"]) { server, _ in
                let honest = try #require(try await server.api.agent(named: "honest"))

                // Not JSON at all → 1007 invalid payload.
                var (link, _, events) = try await hostileClient(server)
                link.sendFrame(Data("this is not json".utf8))
                var closed = await closeOf(&events)
                #expect(closed?.code == CloseCode.invalidPayload.rawValue, "\(String(describing: closed))")
                #expect(closed?.reason.contains("malformed") == true)

                // A protocol version we do not speak → 1002.
                (link, _, events) = try await hostileClient(server)
                link.sendFrame(Data(#"{"v":99,"t":"hello","body":{}}"#.utf8))
                closed = await closeOf(&events)
                #expect(closed?.code == CloseCode.protocolError.rawValue, "\(String(describing: closed))")

                // An unknown type is counted, not fatal; the hello after it with a forged signature → 4001.
                (link, _, events) = try await hostileClient(server)
                link.sendFrame(Data(#"{"v":2,"t":"from_the_future","body":{}}"#.utf8))
                let forged = Hello(agentId: honest.id, signature: Data(repeating: 7, count: 64).base64EncodedString(), facts: malloryFacts, stream: "s", received: nil)
                link.send(Envelope(.hello(forged)))
                closed = await closeOf(&events)
                #expect(closed?.code == CloseCode.authenticationFailed.rawValue, "\(String(describing: closed))")
                #expect(closed?.reason.contains("signature") == true)

                // A well-signed hello for an agent id that does not exist → 4001.
                let key = Curve25519.Signing.PrivateKey()
                var challenge: Challenge
                (link, challenge, events) = try await hostileClient(server)
                let signature = try AgentProof.sign(nonce: challenge.nonce, agentId: "ag_nobody", key: key)
                link.send(Envelope(.hello(Hello(agentId: "ag_nobody", signature: signature, facts: malloryFacts, stream: "s", received: nil))))
                closed = await closeOf(&events)
                #expect(closed?.code == CloseCode.authenticationFailed.rawValue, "\(String(describing: closed))")

                // Enrollment with a token the server never issued → 4001.
                (link, challenge, events) = try await hostileClient(server)
                let publicKey = key.publicKey.rawRepresentation.base64EncodedString()
                let enrollSignature = try AgentProof.sign(nonce: challenge.nonce, agentId: publicKey, key: key)
                link.send(Envelope(.enroll(Enroll(token: "gre_stolen", publicKey: publicKey, signature: enrollSignature, facts: malloryFacts, stream: "s"))))
                closed = await closeOf(&events)
                #expect(closed?.code == CloseCode.authenticationFailed.rawValue, "\(String(describing: closed))")
                #expect(closed?.reason.contains("enrollment token") == true)

                // A frame over the 1 MiB frame limit → 1009.
                (link, _, events) = try await hostileClient(server)
                link.sendFrame(Data(repeating: 0x61, count: WireLimits.maxFrameBytes + 1))
                closed = await closeOf(&events)
                #expect(closed?.code == CloseCode.messageTooBig.rawValue, "\(String(describing: closed))")

                // Saying nothing → 4005 once the (1 s) handshake deadline passes.
                (link, _, events) = try await hostileClient(server)
                closed = await closeOf(&events)
                #expect(closed?.code == CloseCode.handshakeTimeout.rawValue, "\(String(describing: closed))")

                // A reliable message that is not something an agent sends, after a valid hello cannot be
                // forged here; instead check the honest agent still works and was never disturbed.
                let batch = try await server.api.run(["honest"], "echo still-fine")
                let result = try #require(try await server.api.finish(batch).first)
                #expect(result.state == .succeeded)
                #expect(result.stdout == "still-fine\n")
                let after = try #require(try await server.api.agent(named: "honest"))
                #expect(after.epoch == honest.epoch, "the honest agent's session was never interrupted")
                #expect(after.status == .online)
            }
        }

        @Test("API: errors are JSON with a message; bad token is 401")
        func apiErrors() async throws {
            try await withFleet(agents: []) { server, _ in
                let (status, body) = try await server.api.raw("GET", "/api/v1/agents", token: "wrong")
                #expect(status == 401)
                #expect(String(decoding: body, as: UTF8.self).contains("\"message\""))
                let (badStatus, badBody) = try await server.api.raw("POST", "/api/v1/commands", body: Data(#"{"agents":["ghost"],"command":"true"}"#.utf8))
                #expect(badStatus == 404)
                #expect(String(decoding: badBody, as: UTF8.self).contains("ghost"))
                let (emptyStatus, _) = try await server.api.raw("POST", "/api/v1/commands", body: Data("{not json".utf8))
                #expect(emptyStatus == 400)
            }
        }
    }
}
