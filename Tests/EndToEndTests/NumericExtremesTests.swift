import Foundation
import RMMAPI
import RMMProtocol
import RMMServer
import RMMTestSupport
import Testing

extension EndToEnd {
    /// Extreme numbers in every numeric field of every message, sent to a live server before and
    /// after authentication, and in every number of the agent port's HTTP paths: the server
    /// refuses each with a reason and keeps serving.
    @Suite("End to end: extreme numbers on the agent port", .serialized)
    struct NumericExtremesTests {
        /// Beyond every numeric type, or negative, or fractional: each field meets each.
        static let tokens = ["NaN", "1e309", "1180591620717411303424", "9223372036854775808", "-1", "0.5"]
        /// Tokens no field can hold: a frame carrying one is always refused.
        static let unrepresentable: Set<String> = ["NaN", "1e309", "1180591620717411303424"]

        @Test("every numeric field of every message type, before and after authentication: refused with a reason, and the server stays up")
        func everyField() async throws {
            // Undecodable input before authentication counts as a failed authentication; the
            // per-address limit would turn the later cases into 4009 before they are read.
            let server = try await E2EServer.start(["--max-failed-auth-per-minute", "100000"])
            do {
                let identity = try await HostileIdentity.enroll(server, name: "extremes")
                var cases = 0
                for sample in WireSamples.everyMessage {
                    let type = sample.message.type
                    let variants = NumericExtremes.variants(of: try WireCodec().encode(sample), tokens: Self.tokens)
                    for variant in variants {
                        cases += 1
                        let source = "127.0.\(1 + cases / 250).\(2 + cases % 250)"
                        let client = try await RawAgentPortClient.connect(port: server.agentPort, from: source)
                        guard try await client.upgrade() != nil else { throw E2EError("no challenge (\(type) \(variant))") }
                        await client.send(RawWebSocket.frame(payload: Array(variant.data)))
                        let (outcome, detail) = await client.end(within: .seconds(10))
                        guard case .close = outcome else {
                            Issue.record("before authentication, \(type) \(variant): \(outcome) (\(detail))")
                            continue
                        }
                    }
                    guard WireSamples.agentTypes.contains(type) else { continue }
                    for variant in variants {
                        let (client, _) = try await identity.connect(server)
                        await client.send(RawWebSocket.frame(payload: Array(variant.data)))
                        // A value in range is taken; this then ends the connection either way.
                        await client.send(RawWebSocket.frame(payload: Array("not json".utf8)))
                        let (outcome, detail) = await client.end(within: .seconds(10))
                        if Self.unrepresentable.contains(variant.token) {
                            #expect(outcome == .close(CloseCode.invalidPayload) && detail.contains("malformed message"), "after authentication, \(type) \(variant): \(outcome) (\(detail))")
                        } else if case .close = outcome {
                        } else {
                            Issue.record("after authentication, \(type) \(variant): \(outcome) (\(detail))")
                        }
                    }
                    #expect(server.process.isRunning, "the server stopped after \(type)")
                    _ = try await server.api.call("GET", "/api/v1/health") as OKView
                }
                #expect(cases > 500, "only \(cases) cases")
                #expect(!server.process.logContents().contains("Fatal error"), "the server trapped")
            } catch {
                Issue.record("\(error)\n---- server ----\n\(server.process.logContents().suffix(4000))")
            }
            await server.stop()
        }

        @Test("extreme numbers in the long-poll query are a 400 naming the parameter, before any lookup; the server stays up")
        func longPollQuery() async throws {
            let server = try await E2EServer.start()
            do {
                var index = 0
                for field in DownlinkPollQuery.Field.allCases {
                    for token in NumericExtremes.tokens {
                        index += 1
                        let client = try await RawAgentPortClient.connect(port: server.agentPort, from: "127.0.3.\(2 + index % 200)")
                        await client.send(Array("GET /agent/downlink/c_unknown?\(field.rawValue)=\(token) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8))
                        let (outcome, detail) = await client.end(within: .seconds(10))
                        // A value in range reaches the lookup (the connection is unknown: 410).
                        if (try? DownlinkPollQuery(parameters: [(field.rawValue, token)])) != nil {
                            #expect(outcome == .http(410), "\(field)=\(token): \(outcome) \(detail)")
                        } else {
                            #expect(outcome == .http(400) && detail.contains("\(field.rawValue) must be"), "\(field)=\(token): \(outcome) \(detail)")
                        }
                    }
                }
                #expect(server.process.isRunning)
                _ = try await server.api.call("GET", "/api/v1/health") as OKView
            } catch {
                Issue.record("\(error)\n---- server ----\n\(server.process.logContents().suffix(4000))")
            }
            await server.stop()
        }
    }
}

extension EndToEnd {
    /// The other direction: a relay that bends the numbers in what the server sends, from the
    /// first frame the agent reads.
    @Suite("End to end: extreme numbers towards the agent", .serialized)
    struct AgentExtremeNumbersTests {
        @Test("a relay putting extreme numbers in server frames from the first frame on: the agent refuses them and stays up; nothing runs twice; a clean path works at once")
        func bentDownlink() async throws {
            let server = try await E2EServer.start()
            let proxy = try await FaultProxy.start(upstreamHost: "127.0.0.1", upstreamPort: server.agentPort)
            var agent: E2EAgent?
            do {
                let ledger = server.directory + "/ledger"
                // Heartbeats every second: a steady stream of server frames to bend.
                try await server.api.useFastLiveness()
                // Enrolled through a clean path first, so the agent has an identity to come back with.
                agent = try E2EAgent.start(name: "bent", server: "ws://127.0.0.1:\(proxy.port)", enrollToken: try await server.api.enrollToken())
                try await server.api.waitOnline("bent")
                let process = try #require(agent).process
                // One frame in three is bent, on this connection and every later one, from its first frame.
                // (Text frames only: if the agent's link policy moves it to binary or poll, bending
                // stops, which is why a few bent frames are enough to wait for.)
                proxy.setMode(.extremeNumbersDownlink(oneIn: 3))
                proxy.setModeOfExistingConnections(.extremeNumbersDownlink(oneIn: 3))
                var batches: [RunResponse] = []
                for round in 0..<12 {
                    batches.append(try await server.api.run(["bent"], "echo bent-\(round) >> \(ledger)", expires: 30))
                }
                try await waitUntil("frames bent", timeout: .seconds(30)) { proxy.frameCounts.bent >= 6 }
                #expect(process.isRunning, "the agent stopped")
                proxy.setMode(.pass)
                proxy.setModeOfExistingConnections(.pass)
                let results = try await batches.asyncMap { try #require(try await server.api.finish($0, timeout: 90).first) }
                let lines = (try? String(contentsOfFile: ledger, encoding: .utf8))?.split(separator: "\n").map(String.init) ?? []
                for (round, result) in results.enumerated() {
                    let count = lines.filter { $0 == "bent-\(round)" }.count
                    // Ended one way or another, and never run twice; a success ran exactly once.
                    #expect(result.state.isTerminal && count <= 1, "round \(round): \(result.state) \(result.reason ?? ""), ran \(count) times")
                    if result.state == .succeeded { #expect(count == 1, "round \(round) succeeded but ran \(count) times") }
                }
                #expect(process.isRunning, "the agent stopped")
                #expect(!process.logContents().contains("Fatal error"), "the agent trapped")
                try await server.api.waitOnline("bent")
                let after = try await server.api.run(["bent"], "echo clean")
                #expect(try await server.api.finish(after).first?.stdout == "clean\n")
            } catch {
                Issue.record("\(error)\n---- server ----\n\(server.process.logContents().suffix(4000))\n---- agent ----\n\(agent?.process.logContents().suffix(6000) ?? "")")
            }
            await agent?.stop()
            await server.stop()
            try? await proxy.stop()
        }
    }
}
