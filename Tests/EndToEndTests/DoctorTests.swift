import Crypto
import Foundation
import NIOCore
import NIOPosix
import RMMAPI
import RMMProtocol
import RMMTestSupport
import Testing

extension EndToEnd {
    /// `gururmm doctor` against real servers, through the fault proxy, and against a hostile one.
    @Suite("End to end: gururmm doctor", .serialized)
    struct DoctorTests {
        /// Runs `gururmm doctor ARGS` with `stdin` as its standard input (a file path).
        private func doctor(_ arguments: [String], stdin: String? = nil, in directory: String) async throws -> (code: Int32, output: String) {
            let process = try ManagedProcess.start(try gururmmBinary(), arguments: ["doctor"] + arguments,
                                                   logPath: directory + "/doctor-\(UUID().uuidString).log", standardInput: stdin)
            let code = try await process.waitForExit(timeout: .seconds(120))
            return (code, process.logContents())
        }

        private func write(_ text: String, to path: String) throws -> String {
            try Data((text + "\n").utf8).write(to: URL(fileURLWithPath: path))
            return path
        }

        /// The JSON report in a `--json` run's output.
        private func report(_ output: String) throws -> DoctorReport {
            let json = try #require(output.firstIndex(of: "{").map { String(output[$0...]) }, "no JSON in: \(output)")
            return try APICoding.decoder().decode(DoctorReport.self, from: Data(json.utf8))
        }

        @Test("a clean TLS server: every step passes, verdict healthy, exit 0; the token still enrolls an agent afterwards")
        func cleanServer() async throws {
            let server = try await E2EServer.start(tls: true)
            var agent: E2EAgent?
            do {
                // Over TLS the API is https: the token comes from the CLI, which trusts it through server.json.
                let created = try await server.cli(["enroll-token", "create", "--uses", "1"])
                let token = try #require(created.output.split(separator: "\n").last.map(String.init), "\(created.output)")
                let file = try write(token, to: server.directory + "/token")
                let run = try await doctor(["--server", server.agentURL, "--token-file", file], in: server.directory)
                #expect(run.code == 0, "\(run.output)")
                for line in ["dns        ok", "tcp        ok", "tls        ok", "upgrade    ok   [text]", "token      ok   [text] accepted (checked, not used up)",
                             "ping       ok   [text]", "echo       ok   [text] 32768 B", "echo       ok   [binary] 32768 B", "echo       ok   [poll] 4096 B",
                             "verdict    healthy", "exit       0"] {
                    #expect(run.output.contains(line), "missing '\(line)' in:\n\(run.output)")
                }
                #expect(!run.output.contains("FAIL"), "\(run.output)")
                #expect(!run.output.contains(token), "the token is never printed")
                // The one use is still there: an agent enrolls with it.
                agent = try E2EAgent.start(name: "after-doctor", server: server.agentURL, enrollToken: token)
                let dataDirectory = server.dataDirectory
                try await waitUntil("the agent enrolls with the one-use token the doctor checked", timeout: .seconds(30)) {
                    let (code, output) = try await runCLI(dataDirectory: dataDirectory, ["agents"])
                    return code == 0 && output.split(separator: "\n").contains { $0.contains(" after-doctor ") && $0.contains("online") }
                }
            } catch {
                Issue.record("\(error)\n---- server ----\n\(server.process.logContents().suffix(6000))")
            }
            await agent?.stop()
            await server.stop()
        }

        @Test("the token on standard input, --json: a healthy report; the token on the command line is refused")
        func tokenSources() async throws {
            let server = try await E2EServer.start()
            do {
                let token = try await server.api.enrollToken(uses: 1)
                let stdin = try write(token, to: server.directory + "/stdin")
                let run = try await doctor(["--server", server.agentURL, "--json"], stdin: stdin, in: server.directory)
                #expect(run.code == 0, "\(run.output)")
                let parsed = try report(run.output)
                #expect(parsed.conclusion.verdict == .healthy && parsed.conclusion.exitCode == 0)
                #expect(parsed.probes.contains { $0.encoding == "poll" && $0.passed } && parsed.probes.allSatisfy { $0.passed })

                for flag in ["--token", "--enroll-token"] {
                    let refused = try await doctor(["--server", server.agentURL, flag, token], in: server.directory)
                    #expect(refused.code == 64 && refused.output.contains("never taken from the command line"), "\(refused.output)")
                }
                let empty = try await doctor(["--server", server.agentURL], in: server.directory)
                #expect(empty.code == 64 && empty.output.contains("no enrollment token on standard input"), "\(empty.output)")
                #expect(try await server.api.client.enrollmentTokens().first?.usesLeft == 1, "no run used the token")
            } catch {
                Issue.record("\(error)\n---- server ----\n\(server.process.logContents().suffix(6000))")
            }
            await server.stop()
        }

        @Test("a used-up or wrong token: a clear refusal, exit 3, counted against the address like a failed enrollment (then 4009)")
        func refusedTokens() async throws {
            let server = try await E2EServer.start(["--max-failed-auth-per-minute", "2"])
            var agent: E2EAgent?
            do {
                let token = try await server.api.enrollToken(uses: 1)
                agent = try E2EAgent.start(name: "first", server: server.agentURL, enrollToken: token)
                try await server.api.waitOnline("first")
                let spent = try write(token, to: server.directory + "/spent")
                let usedUp = try await doctor(["--server", server.agentURL, "--token-file", spent], in: server.directory)
                #expect(usedUp.code == 3, "\(usedUp.output)")
                #expect(usedUp.output.contains("token      FAIL [text] refused (4001): enrollment refused: enrollment token has no uses left"), "\(usedUp.output)")
                #expect(usedUp.output.contains("Ask the operator for a new enrollment token"), "\(usedUp.output)")

                let wrong = try write("not-a-real-token", to: server.directory + "/wrong")
                let unknown = try await doctor(["--server", server.agentURL, "--token-file", wrong], in: server.directory)
                #expect(unknown.code == 3 && unknown.output.contains("enrollment token is not known to this server"), "\(unknown.output)")
                // Two failures from this address within a minute: the next attempt is refused before its challenge.
                let limited = try await doctor(["--server", server.agentURL, "--token-file", wrong], in: server.directory)
                #expect(limited.code == 2 && limited.output.contains("4009") && limited.output.contains("wait"), "\(limited.output)")
            } catch {
                Issue.record("\(error)\n---- server ----\n\(server.process.logContents().suffix(6000))")
            }
            await agent?.stop()
            await server.stop()
        }

        @Test("a probe session keeps the pre-authentication limits: the input budget (1009), only probes (1002), at most 1 + 16 messages (1002), a 20 s lifetime (1000); the token is never used")
        func probeSessionLimits() async throws {
            let server = try await E2EServer.start()
            do {
                let token = try await server.api.enrollToken(uses: 1)
                /// A raw client from its own address, in a probe session.
                func session(_ source: String) async throws -> RawAgentPortClient {
                    let client = try await RawAgentPortClient.connect(port: server.agentPort, from: source)
                    _ = try #require(try await client.upgrade())
                    try await client.send(Envelope(.doctor(DoctorHello(token: token))))
                    let ready = try await client.message(at: 1)
                    guard case .doctorReady(let limits)? = ready?.message else { throw E2EError("expected doctor_ready, got \(String(describing: ready))") }
                    #expect(limits.maxEchoes == DoctorLimits.maxEchoes && limits.budgetBytes <= WireLimits.maxUnauthenticatedBytes)
                    return client
                }
                func probe(_ id: Int, _ size: Int) throws -> [UInt8] {
                    RawWebSocket.frame(payload: Array(try #require(ProbeFrames.encode(id: id, size: size, shape: .plain))))
                }

                // Opened first, so its lifetime runs while the other cases do.
                let idle = try await session("127.0.0.24")
                let greedy = try await session("127.0.0.21")
                for id in 1...3 { await greedy.send(try probe(id, 16_384)) }
                let echoed = try await greedy.message(at: 4)
                #expect(echoed.map { if case .probe(let echo) = $0.message { echo.id == 3 && echo.size == 16_384 } else { false } } == true, "echoes come back, same size")
                for id in 4...5 { await greedy.send(try probe(id, 16_384)) }
                let (budget, budgetWhy) = await greedy.end(within: .seconds(10))
                #expect(budget == .close(.messageTooBig) && budgetWhy.contains("before authentication"), "\(budget): \(budgetWhy)")

                let chatty = try await session("127.0.0.22")
                try await chatty.send(Envelope(.heartbeat(Heartbeat(id: 1, echo: nil, time: 1, metrics: nil))))
                let (other, otherWhy) = await chatty.end(within: .seconds(10))
                #expect(other == .close(.protocolError) && otherWhy.contains("only 'probe' messages"), "\(other): \(otherWhy)")

                let many = try await session("127.0.0.23")
                for id in 1...(DoctorLimits.maxEchoes + 1) { await many.send(try probe(id, 64)) }
                let (count, countWhy) = await many.end(within: .seconds(10))
                #expect(count == .close(.protocolError) && countWhy.contains("messages are read in a probe session"), "\(count): \(countWhy)")

                let (lifetime, lifetimeWhy) = await idle.end(within: .seconds(DoctorLimits.lifetimeSeconds + 10))
                #expect(lifetime == .close(.normal) && lifetimeWhy.contains("probe session over"), "\(lifetime): \(lifetimeWhy)")
                #expect(try await server.api.client.enrollmentTokens().first?.usesLeft == 1, "probe sessions use nothing up")
                #expect(server.process.isRunning)
            } catch {
                Issue.record("\(error)\n---- server ----\n\(server.process.logContents().suffix(6000))")
            }
            await server.stop()
        }

        /// A plain server with a fault proxy in front of its agent port, and a token for it.
        private func throughProxy(_ mode: FaultMode, _ body: (E2EServer, FaultProxy, String) async throws -> Void) async throws {
            let server = try await E2EServer.start()
            let proxy = try await FaultProxy.start(upstreamHost: "127.0.0.1", upstreamPort: server.agentPort)
            do {
                proxy.setMode(mode)
                let token = try await server.api.enrollToken(uses: 1)
                try await body(server, proxy, try write(token, to: server.directory + "/token"))
            } catch {
                Issue.record("\(error)\n---- server ----\n\(server.process.logContents().suffix(6000))")
            }
            await server.stop()
            try? await proxy.stop()
        }

        @Test("text frames filtered on the path → path-filters-data (diagnose's verdict for it), binary passes, exit 1")
        func textFiltered() async throws {
            try await throughProxy(.dropDownlinkText) { server, proxy, token in
                let run = try await doctor(["--server", "ws://127.0.0.1:\(proxy.port)", "--token-file", token, "--json"], in: server.directory)
                #expect(run.code == 1, "\(run.output)")
                let parsed = try report(run.output)
                #expect(parsed.conclusion.verdict == .pathFiltersData && parsed.conclusion.action == .switchToBinary, "\(parsed.conclusion)")
                #expect(parsed.steps.contains { $0.step == .challenge && $0.downlink == .text && !$0.ok })
                #expect(parsed.probes.contains { $0.encoding == "binary" && $0.size == 32_768 && $0.passed })
            }
        }

        @Test("frames above 12 000 bytes dropped on the path → size-blackhole naming 4096 bytes, as diagnose says, exit 1")
        func sizeLimit() async throws {
            try await throughProxy(.dropFramesLargerThan(12_000)) { server, proxy, token in
                let run = try await doctor(["--server", "ws://127.0.0.1:\(proxy.port)", "--token-file", token], in: server.directory)
                #expect(run.code == 1, "\(run.output)")
                #expect(run.output.contains("verdict    size-blackhole"), "\(run.output)")
                #expect(run.output.contains("echo       FAIL [text] 16384 B: lost"), "\(run.output)")
                #expect(run.output.contains("data frames up to 4096 bytes pass"), "\(run.output)")
            }
        }

        @Test("no server on the port → the TCP step fails with a clear message, exit 2")
        func nothingThere() async throws {
            let directory = try freeTemporaryDirectory(prefix: "gururmm-doctor")
            let port = try await closedPort()
            let file = try write("whatever", to: directory + "/token")
            let run = try await doctor(["--server", "ws://127.0.0.1:\(port)", "--token-file", file], in: directory)
            #expect(run.code == 2, "\(run.output)")
            #expect(run.output.contains("tcp        FAIL cannot connect to 127.0.0.1:\(port): connection refused"), "\(run.output)")
            #expect(run.output.contains("verdict    agent-offline"), "\(run.output)")
        }

        @Test("a hostile server (extreme numbers, a frame larger than any limit) ends the doctor with a verdict, never a crash", arguments: HostileAnswer.allCases)
        func hostileServer(_ answer: HostileAnswer) async throws {
            let directory = try freeTemporaryDirectory(prefix: "gururmm-doctor")
            let group = MultiThreadedEventLoopGroup.singleton
            let listener = try await ServerBootstrap(group: group)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(HostileDoctorServer(answer: answer)) }
                }
                .bind(host: "127.0.0.1", port: 0).get()
            let port = try #require(listener.localAddress?.port)
            let file = try write("secret.a2V5", to: directory + "/token")
            let run = try await doctor(["--server", "ws://127.0.0.1:\(port)", "--token-file", file], in: directory)
            try? await listener.close().get()
            #expect(run.code == 2, "\(answer): \(run.output)")
            #expect(run.output.contains("verdict    ") && !run.output.contains("Fatal error"), "\(answer): \(run.output)")
        }

        /// A port nothing listens on: bound by the OS, then closed.
        private func closedPort() async throws -> Int {
            let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
            let port = try #require(channel.localAddress?.port)
            try await channel.close().get()
            return port
        }
    }
}

/// What the hostile server answers the doctor's messages with.
enum HostileAnswer: String, CaseIterable, Sendable {
    /// `doctor_ready` with numbers no field allows (1e999, NaN-like tokens).
    case extremeNumbers
    /// A frame header declaring 2 GiB.
    case oversizeFrame
    /// Echoes carrying sizes and ids far outside their ranges.
    case hugeEcho
}

/// Answers any upgrade with a 101 and a challenge, then each later read with `answer`'s frame.
private final class HostileDoctorServer: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let answer: HostileAnswer

    init(answer: HostileAnswer) { self.answer = answer }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var request = unwrapInboundIn(data)
        let text = request.readString(length: request.readableBytes) ?? ""
        var out = context.channel.allocator.buffer(capacity: 512)
        if let keyLine = text.split(separator: "\r\n").first(where: { $0.lowercased().hasPrefix("sec-websocket-key:") }) {
            let key = keyLine.split(separator: ":", maxSplits: 1)[1].trimmingCharacters(in: .whitespaces)
            let accept = Data(Insecure.SHA1.hash(data: Data((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").utf8))).base64EncodedString()
            out.writeString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: \(accept)\r\n\r\n")
            out.writeBytes(Self.unmasked(#"{"v":2,"t":"challenge","body":{"nonce":"bm9uY2U=","server_version":"9"}}"#))
        } else {
            switch answer {
            case .extremeNumbers:
                out.writeBytes(Self.unmasked(#"{"v":2,"t":"doctor_ready","body":{"budget_bytes":1e999,"lifetime_seconds":-1e999,"max_echoes":99999999999999999999999}}"#))
            case .oversizeFrame:
                out.writeBytes([0x81, 127, 0, 0, 0, 0, 0x80, 0, 0, 0] + [UInt8](repeating: 0x41, count: 1024))
            case .hugeEcho:
                out.writeBytes(Self.unmasked(#"{"v":2,"t":"doctor_ready","body":{"budget_bytes":65536,"lifetime_seconds":20,"max_echoes":16}}"#))
                out.writeBytes(Self.unmasked(#"{"v":2,"t":"probe","body":{"id":9007199254740993,"size":1e308,"shape":"plain","pad":""}}"#))
            }
        }
        context.writeAndFlush(NIOAny(out), promise: nil)
    }

    /// A server's (unmasked) text frame.
    private static func unmasked(_ text: String) -> [UInt8] {
        let payload = Array(text.utf8)
        let length: [UInt8] = payload.count < 126 ? [UInt8(payload.count)] : [126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        return [0x81] + length + payload
    }
}
