import Foundation
import RMMAPI
import RMMProtocol
import RMMServer
import RMMTestSupport
import Testing

extension EndToEnd {
    /// An enrolled agent that turns hostile, for over a minute, beside real agents doing real work.
    @Suite("End to end: a hostile enrolled agent", .serialized)
    struct HostileAgentTests {
        static let realAgents = ["ledger-a", "ledger-b", "ledger-c"]
        static let duration: Duration = .seconds(65)

        @Test("extreme values, forged, replayed, wrong-phase and out-of-order frames, reports on other agents' commands: the server stays up, its memory bounded, and every real command runs exactly once")
        func hostileAgent() async throws {
            let server = try await E2EServer.start(["--max-failed-auth-per-minute", "100000"])
            await withFleet(on: server, agents: Self.realAgents) { server, _ in
                let ledgers = server.directory
                let hostile = try await HostileIdentity.enroll(server, name: "mallory")
                let baseline = try Self.residentBytes(server.process.pid)
                let done = DoneFlag()
                let (api, agentPort, pid) = (server.api, server.agentPort, server.process.pid)
                let attacks = Task { await Self.attack(api: api, agentPort: agentPort, pid: pid, as: hostile, until: done) }

                // Real work, round after round, while the attack goes on.
                var tags: [String: [String]] = [:]
                var rounds = 0
                let clock = ContinuousClock()
                let end = clock.now + Self.duration
                while clock.now < end {
                    rounds += 1
                    let jobs = Self.realAgents.map { name in (name, "R\(rounds)-\(name)-\(UUID().uuidString.prefix(8))") }
                    let results = try await withThrowingTaskGroup(of: (String, String, CommandView).self) { group in
                        for (name, tag) in jobs {
                            group.addTask {
                                let batch = try await api.run([name], "echo \(tag) >> \(ledgers)/ledger-\(name); echo \(tag)")
                                return (name, tag, try #require(try await api.finish(batch, timeout: 60).first))
                            }
                        }
                        return try await group.reduce(into: []) { $0.append($1) }
                    }
                    for (name, tag, view) in results {
                        #expect(view.state == .succeeded && view.stdout == tag + "\n", "\(tag): \(view.state) \(view.reason ?? "") \(view.stdout ?? "")")
                        tags[name, default: []].append(tag)
                    }
                }
                done.set()
                let sent = await attacks.value
                let peak = sent.peakResidentBytes

                for name in Self.realAgents {
                    let lines = try String(contentsOfFile: "\(ledgers)/ledger-\(name)", encoding: .utf8).split(separator: "\n").map(String.init)
                    #expect(lines.sorted() == (tags[name] ?? []).sorted(), "\(name): each command exactly once, none lost")
                }
                #expect(rounds >= 10, "only \(rounds) rounds of real work")
                #expect(sent.connections >= 200 && sent.frames >= 1000, "the attack was too small: \(sent)")
                #expect(server.process.isRunning)
                #expect(!server.process.logContents().contains("Fatal error"), "the server trapped")
                // Bounded: the attack may warm caches, not grow the heap with what it sends.
                #expect(peak - baseline < 96 << 20, "RSS grew from \(baseline >> 20) MiB to \(peak >> 20) MiB under attack")
                print("hostile agent: \(sent), \(rounds) rounds of real work, RSS \(baseline >> 20) → peak \(peak >> 20) MiB")
            }
        }

        /// What the attack sent.
        struct Sent: CustomStringConvertible, Sendable {
            var connections = 0
            var frames = 0
            /// The server's largest resident memory, read after each connection.
            var peakResidentBytes = 0
            var description: String { "\(connections) connections, \(frames) frames" }
        }

        /// Connection after connection until `done`: each authenticates (or not) and sends a burst
        /// of hostile frames of one kind or another.
        static func attack(api: TestAPI, agentPort: Int, pid: pid_t, as identity: HostileIdentity, until done: DoneFlag) async -> Sent {
            var sent = Sent()
            var rng = SystemRandomNumberGenerator()
            var captured: [[UInt8]] = []
            while !done.isSet {
                sent.connections += 1
                do {
                    let preAuth = Int.random(in: 0..<5, using: &rng) == 0
                    let client: RawAgentPortClient
                    if preAuth {
                        client = try await RawAgentPortClient.connect(port: agentPort, from: "127.0.4.\(2 + sent.connections % 200)")
                        guard try await client.upgrade() != nil else { continue }
                    } else {
                        client = try await identity.connect(agentPort: agentPort, stream: "s-\(Int.random(in: 0..<3, using: &rng))",
                                                            received: Bool.random(using: &rng) ? nil : StreamPosition(stream: "x", seq: 1 << 52)).client
                    }
                    let recent = (try? await api.call("GET", "/api/v1/commands?limit=20") as [CommandView]) ?? []
                    let frames = Self.burst(&rng, foreignCommands: recent.map(\.id), captured: captured)
                    for frame in frames {
                        await client.send(frame)
                        sent.frames += 1
                    }
                    if captured.count < 64, let some = frames.randomElement(using: &rng) { captured.append(some) }
                    _ = await client.end(within: .milliseconds(Int64.random(in: 50...400, using: &rng)))
                    sent.peakResidentBytes = max(sent.peakResidentBytes, (try? residentBytes(pid)) ?? 0)
                } catch {
                    // A refused connection is an outcome, not a failure of the attack.
                }
            }
            return sent
        }

        /// One burst: frames of one hostile kind, masked as a client sends them.
        static func burst(_ rng: inout SystemRandomNumberGenerator, foreignCommands: [String], captured: [[UInt8]]) -> [[UInt8]] {
            func frame(_ envelope: Envelope) -> [UInt8] {
                RawWebSocket.frame(payload: Array((try? WireCodec().encode(envelope)) ?? Data()))
            }
            let agentSamples = WireSamples.everyMessage.filter { WireSamples.agentTypes.contains($0.message.type) }
            let serverSamples = WireSamples.everyMessage.filter { !WireSamples.agentTypes.contains($0.message.type) }
            let commandId = foreignCommands.randomElement(using: &rng) ?? "c_none"
            let now = Date().timeIntervalSince1970
            switch Int.random(in: 0..<7, using: &rng) {
            case 0:
                // Extreme numbers in a random field of random messages.
                return (0..<Int.random(in: 1...8, using: &rng)).compactMap { _ in
                    guard let sample = agentSamples.randomElement(using: &rng), let data = try? WireCodec().encode(sample) else { return nil }
                    let variants = NumericExtremes.variants(of: data)
                    return variants.randomElement(using: &rng).map { RawWebSocket.frame(payload: Array($0.data)) }
                }
            case 1:
                // Reports on other agents' commands: ack, started, output and a result claiming success.
                let seq = Int.random(in: 1...50, using: &rng)
                return [
                    frame(Envelope(.commandAck(CommandAck(commandId: commandId, duplicate: false)), seq: seq)),
                    frame(Envelope(.started(CommandStarted(commandId: commandId, pid: 1, time: now)), seq: seq + 1)),
                    frame(Envelope(.output(CommandOutput(commandId: commandId, stream: .stdout, offset: 0, data: Data("forged\n".utf8))), seq: seq + 2)),
                    frame(Envelope(.result(CommandResult(commandId: commandId, status: .succeeded, exitCode: 0, stdout: Data("forged\n".utf8), finishedAt: now)), seq: seq + 3)),
                ]
            case 2:
                // Out of order, repeated and far-ahead sequence numbers, and acks beyond what was sent.
                return [5, 5, 1, 1 << 52, 2, 3].map { seq in
                    frame(Envelope(.configApplied(ConfigApplied(version: Int.random(in: 0...1 << 40, using: &rng))), seq: seq, ack: Bool.random(using: &rng) ? 1 << 52 : nil))
                }
            case 3:
                // Wrong phase: what only a server sends, and the handshake again.
                return (serverSamples + agentSamples.filter { ["hello", "enroll"].contains($0.message.type) }).shuffled(using: &rng).prefix(4).map { frame($0) }
            case 4:
                // Replayed frames from earlier connections.
                return Array(captured.shuffled(using: &rng).prefix(6))
            case 5:
                // Chunks out of order, and one claiming a huge message.
                return [
                    frame(Envelope(.chunk(Chunk(id: 9, index: 1, count: 3, data: Data("x".utf8))))),
                    frame(Envelope(.chunk(Chunk(id: 9, index: 0, count: WireLimits.maxChunksPerMessage, data: Data(repeating: 0x41, count: 60_000))))),
                    frame(Envelope(.chunk(Chunk(id: 10, index: 0, count: 2, data: Data("{".utf8))))),
                ]
            default:
                // Valid-looking heartbeats and link reports with hostile counters in range.
                var report = WireSamples.linkReport
                report.side.counters.messagesReceived = WireRange.maxCount
                report.side.counters.messagesHandled = 0
                report.consumerStalledSeconds = WireRange.maxSeconds
                return [
                    frame(Envelope(.heartbeat(Heartbeat(id: WireRange.maxCount, echo: WireRange.maxCount, time: WireRange.maxUnixSeconds, metrics: WireSamples.metrics)))),
                    frame(Envelope(.linkReport(report))),
                ]
            }
        }

        static func residentBytes(_ pid: pid_t) throws -> Int {
            let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
            let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
            guard let kib = line.flatMap({ $0.split(separator: " ").dropFirst().first }).flatMap({ Int($0) }) else {
                throw E2EError("no VmRSS for \(pid)")
            }
            return kib * 1024
        }
    }
}
