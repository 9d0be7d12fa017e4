import Crypto
import Foundation
import RMMProtocol
import RMMServer
import RMMTestSupport
import RMMTransport
import Testing

extension EndToEnd {
    /// What a connection that has not authenticated can make the server hold, and the global cap on
    /// such connections, against a real server. Hostile clients connect from 127.0.0.6 and up; the
    /// real agents on 127.0.0.1 are bystanders.
    @Suite("End to end: limits before authentication", .serialized)
    struct PreAuthLimitTests {
        /// Upgrades from `source`, sends `bytes`, and returns how the server ended the connection.
        private func afterUpgrade(_ server: E2EServer, from source: String, send bytes: [UInt8]) async throws -> (HostileOutcome, String) {
            let client = try await RawAgentPortClient.connect(port: server.agentPort, from: source)
            _ = try #require(try await client.upgrade(), "the server sends its challenge")
            await client.send(bytes)
            return await client.end(within: .seconds(15))
        }

        @Test("before authentication: 64 KiB at most (one frame or many), no chunks, a bounded request head; after it the normal limits")
        func unauthenticatedInput() async throws {
            try await withFleet(agents: ["bystander"]) { server, _ in
                let budget = WireLimits.maxUnauthenticatedBytes
                // One frame over the budget, sent whole: closed with 1009 before the server holds it.
                let big = RawWebSocket.frame(payload: Array(repeating: 0x61, count: budget + 1024))
                let (oneFrame, oneReason) = try await afterUpgrade(server, from: "127.0.0.6", send: big)
                #expect(oneFrame == .close(.messageTooBig), "\(oneReason)")
                #expect(oneReason == "more than \(budget) bytes before authentication")

                // Many small frames (pings, which the server answers) that add up past the budget.
                let ping = RawWebSocket.frame(opcode: 0x9, payload: Array(repeating: 0x70, count: 125))
                let pings = Array((0..<(budget / ping.count + 8)).map { _ in ping }.joined())
                let (manyFrames, manyReason) = try await afterUpgrade(server, from: "127.0.0.7", send: pings)
                #expect(manyFrames == .close(.messageTooBig), "\(manyReason)")
                #expect(manyReason == "more than \(budget) bytes before authentication")

                // A chunk first: refused, nothing is reassembled for an unknown peer.
                let chunk = Envelope(.chunk(Chunk(id: 1, index: 0, count: 2, data: Data("{\"v\":1".utf8))))
                let chunkFrame = RawWebSocket.frame(payload: Array(try WireCodec().encode(chunk)))
                let (chunked, chunkReason) = try await afterUpgrade(server, from: "127.0.0.8", send: chunkFrame)
                #expect(chunked == .close(.protocolError), "\(chunkReason)")
                #expect(chunkReason == "chunked messages are refused before authentication")

                // An upgrade request longer than its bound: 431, never parsed whole.
                let client = try await RawAgentPortClient.connect(port: server.agentPort, from: "127.0.0.9")
                let filler = "X-Filler: " + String(repeating: "f", count: WireLimits.maxUpgradeRequestBytes) + "\r\n"
                await client.send(Array(("GET /agent HTTP/1.1\r\nHost: test\r\n" + filler).utf8))
                let (head, headDetail) = await client.end(within: .seconds(15))
                #expect(head == .http(431), "\(headDetail)")

                // A hostile agent id (newlines, ANSI escapes) reaches the server's log escaped, on one line.
                let (link, challenge, stream) = try await hostileClient(server, from: "127.0.0.10")
                var events = stream
                let key = Curve25519.Signing.PrivateKey()
                // Within the wire's 256-byte bound for ids (a longer one is refused as malformed, 1007).
                let hostileId = "ag_x\nERROR forged\u{1B}[2J" + String(repeating: "z", count: 200)
                let signature = try AgentProof.sign(nonce: challenge.nonce, agentId: hostileId, key: key)
                link.send(Envelope(.hello(Hello(agentId: hostileId, signature: signature, facts: malloryFacts, stream: "s", received: nil))))
                #expect(await closeOf(&events)?.code == CloseCode.authenticationFailed.rawValue)
                let process = server.process
                try await waitUntil("the refusal is logged") { process.logContents().contains("unknown agent id ag_x") }
                let logged = try #require(process.logContents().split(separator: "\n").first { $0.contains("unknown agent id ag_x") })
                #expect(logged.contains(#"ag_x\nERROR forged\u{1b}[2Jzzz"#), "\(logged.prefix(300))")
                #expect(logged.utf8.count < 1000, "logged short: \(logged.utf8.count) bytes")
                #expect(!process.logContents().contains("\nERROR forged"), "no forged line in the log")

                // Authenticated, the agent sends far more than 64 KiB: a result over the chunk size.
                let batch = try await server.api.run(["bystander"], "yes x | head -c 300000")
                let result = try #require(try await server.api.finish(batch).first)
                #expect(result.state == .succeeded, "\(String(describing: result.reason))")
                #expect(result.stdout?.count == 300_000)
            }
        }

        @Test("a long-poll with wait=nan, or after beyond the last frame, before authentication is a 400; the server stays up")
        func pollWaitNaN() async throws {
            try await withFleet(agents: ["bystander"]) { server, _ in
                // A client asks for the long-poll downlink itself and learns its connection id from the 101.
                let client = try await RawAgentPortClient.connect(port: server.agentPort, from: "127.0.0.15")
                await client.send(Array(RawWebSocket.upgradeRequest(path: "/agent?downlink=poll").utf8))
                let tcp = client.tcp
                try await waitUntil("the upgrade answer") { RawServerReply(parsing: tcp.receivedBytes).head.contains("\r\n\r\n") }
                let head = RawServerReply(parsing: tcp.receivedBytes).head
                let id = try #require(head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("x-gururmm-connection:") }?
                    .split(separator: ":", maxSplits: 1).last?.trimmingCharacters(in: .whitespaces), "\(head)")
                for query in ["after=0&wait=nan", "after=0&wait=-inf", "after=0&wait=1e999", "after=99&wait=1"] {
                    let poll = try await RawTCPClient.connect(host: "127.0.0.1", port: server.agentPort, from: "127.0.0.15")
                    try await poll.send("GET /agent/downlink/\(id)?\(query) HTTP/1.1\r\nHost: test\r\n\r\n")
                    try await waitUntil("the poll with \(query) is answered", timeout: .seconds(40)) { poll.isClosed }
                    let parameter = query.hasPrefix("after=99") ? "after must not exceed" : "wait must be"
                    #expect(poll.received.hasPrefix("HTTP/1.1 400") && poll.received.contains(parameter), "\(poll.received.prefix(200))")
                    await poll.close()
                }
                await tcp.close()
                #expect(server.process.isRunning, "the server is still up")
                let results = try await server.api.finish(try await server.api.run(["bystander"], "echo alive"))
                #expect(results.first?.stdout == "alive\n")
            }
        }

        @Test("unauthenticated connections over the global limit get 503 with Retry-After at accept; agents keep working")
        func unauthenticatedTotal() async throws {
            let flags = ["--max-unauthenticated", "3", "--handshake-timeout", "8"]
            try await withFleet(agents: ["bystander"], serverArguments: flags) { server, _ in
                // Six clients, each from its own address (so the per-address limit never applies), that
                // never finish their request. The server admits three, whichever its event loops take
                // first, and answers the other three with 503 at once.
                var clients: [RawTCPClient] = []
                for last in 11...16 {
                    let client = try await RawTCPClient.connect(host: "127.0.0.1", port: server.agentPort, from: "127.0.0.\(last)")
                    try? await client.send("GET /agent HTTP/1.1\r\n")  // fails on a connection already refused
                    clients.append(client)
                }
                let all = clients
                try await waitUntil("three of six connections are refused", timeout: .seconds(20)) { all.filter(\.isClosed).count >= 3 }
                let refused = all.filter(\.isClosed)
                let holders = all.filter { !$0.isClosed }
                #expect(refused.count == 3 && holders.count == 3)
                for client in refused {
                    let answer = client.received
                    #expect(answer.hasPrefix("HTTP/1.1 503 Service Unavailable\r\n"), "\(answer)")
                    #expect(answer.contains("Retry-After: 8\r\n"), "\(answer)")
                    #expect(answer.contains("limit of 3 unauthenticated connections (gururmm server --max-unauthenticated)"), "\(answer)")
                }
                // While the three hold their slots, a WebSocket upgrade from yet another address is refused too.
                let extra = try await RawAgentPortClient.connect(port: server.agentPort, from: "127.0.0.17")
                await extra.send(Array(RawWebSocket.upgradeRequest().utf8))
                let (outcome, detail) = await extra.end(within: .seconds(10))
                #expect(outcome == .http(503), "\(detail)")

                // The connected agent still works: it holds no unauthenticated slot.
                let results = try await server.api.finish(try await server.api.run(["bystander"], "echo fine"))
                #expect(results.first?.stdout == "fine\n")

                // The request deadline frees the slots; then a new agent enrolls.
                try await waitUntil("the server closes the slow clients", timeout: .seconds(20)) { holders.allSatisfy(\.isClosed) }
                #expect(holders.allSatisfy { $0.received.hasPrefix("HTTP/1.1 408 Request Timeout\r\n") })
                let token = try await server.api.enrollToken(uses: 1)
                let newcomer = try E2EAgent.start(name: "newcomer", server: server.agentURL, enrollToken: token)
                try await server.api.waitOnline("newcomer")
                await newcomer.stop()
            }
        }
    }
}
