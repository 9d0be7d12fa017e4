import Foundation
import PropertyBased
import RMMTestSupport
import Testing
@testable import RMMProtocol

typealias RNG = any SeededRandomNumberGenerator

extension Generator {
    /// Checks `property` on this generator's values with the suite's fuzz seed (see `FuzzSettings`).
    func fuzz(iterations: Int, sourceLocation: SourceLocation = #_sourceLocation, _ property: (ResultValue) async throws -> Void) async {
        _ = await RMMTestSupport.fuzz(iterations: iterations, sourceLocation: sourceLocation, generate: { seed in
            var rng = Xoshiro(seed: seed.words)
            defer { seed.words = rng.currentState }
            return run(using: &rng)
        }, property)
    }
}

/// Wire values from the awkward corners (empty, long, control characters, non-ASCII, extreme
/// numbers), every message type built from them, and the ways a frame gets damaged.
enum WireGen {
    static func int(in range: ClosedRange<Int>, _ rng: inout RNG) -> Int { Int.random(in: range, using: &rng) }

    static func chance(_ oneIn: Int, _ rng: inout RNG) -> Bool { int(in: 1...oneIn, &rng) == 1 }

    static func pick<T>(_ values: [T], _ rng: inout RNG) -> T { values[int(in: 0...values.count - 1, &rng)] }

    static func text(_ rng: inout RNG) -> String { FuzzText.draw(&rng) }

    static func optionalText(_ rng: inout RNG) -> String? { chance(4, &rng) ? nil : text(&rng) }

    static let edgeInts = [0, 1, -1, 2, Int.max, Int.min, Int(Int32.max), Int(Int32.min), 1 << 53, (1 << 53) + 1, 65_536]

    static func integer(_ rng: inout RNG) -> Int {
        switch int(in: 0...5, &rng) {
        case 0: return pick(edgeInts, &rng)
        case 1: return Int.random(in: .min ... .max, using: &rng)
        case 2: return int(in: -1000...1_000_000, &rng)
        default: return int(in: 0...100, &rng)
        }
    }

    /// A valid sequence number (or acknowledgement when `from` is 0).
    static func position(from lower: Int, _ rng: inout RNG) -> Int {
        chance(5, &rng) ? pick([lower, Int.max, Int(Int32.max) + 1], &rng) : int(in: lower...10_000, &rng)
    }

    static func int32(_ rng: inout RNG) -> Int32 {
        chance(3, &rng) ? pick([0, 1, -1, .max, .min], &rng) : Int32.random(in: -300...70_000, using: &rng)
    }

    static func int64(_ rng: inout RNG) -> Int64 {
        chance(3, &rng) ? pick([0, -1, .max, .min], &rng) : Int64.random(in: 0...(1 << 44), using: &rng)
    }

    /// Finite only: JSON has no NaN or infinity, so these are what a valid message can carry.
    static func double(_ rng: inout RNG) -> Double {
        switch int(in: 0...4, &rng) {
        case 0:
            return pick([0, -0.0, 1, 0.5, 1e300, -1e300, .greatestFiniteMagnitude, -.greatestFiniteMagnitude, .leastNonzeroMagnitude,
                         .leastNormalMagnitude, 1_750_000_000.123, 9_007_199_254_740_994, 0.1 + 0.2], &rng)
        case 1:
            let any = Double(bitPattern: UInt64.random(in: .min ... .max, using: &rng))
            return any.isFinite ? any : 0
        case 2: return Double.random(in: -1e6...1e6, using: &rng)
        default: return Double(int(in: 0...3600, &rng))
        }
    }

    static func optional<T>(_ rng: inout RNG, _ make: (inout RNG) -> T) -> T? { chance(3, &rng) ? nil : make(&rng) }

    static func bytes(_ rng: inout RNG) -> Data {
        let count = chance(10, &rng) ? int(in: 0...4096, &rng) : int(in: 0...48, &rng)
        return Data((0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) })
    }

    static func dictionary(_ rng: inout RNG) -> [String: String] {
        Dictionary((0..<int(in: 0...5, &rng)).map { _ in (text(&rng), text(&rng)) }, uniquingKeysWith: { first, _ in first })
    }

    static func facts(_ rng: inout RNG) -> AgentFacts {
        AgentFacts(name: text(&rng), hostname: text(&rng), os: text(&rng), version: text(&rng))
    }

    static func streamPosition(_ rng: inout RNG) -> StreamPosition? {
        optional(&rng) { StreamPosition(stream: text(&$0), seq: position(from: 0, &$0)) }
    }

    /// Any field values, valid for the codec though not necessarily for `problems()`.
    static func config(_ rng: inout RNG) -> AgentConfig {
        AgentConfig(
            version: integer(&rng), heartbeatInterval: double(&rng), heartbeatDeadline: double(&rng), pingInterval: double(&rng),
            maxConcurrentCommands: integer(&rng), maxQueuedCommands: integer(&rng), outputCapBytes: integer(&rng),
            outputChunkBytes: integer(&rng), ackDeadline: double(&rng), maxMessageBytes: integer(&rng), labels: dictionary(&rng),
            allowedInterpreters: (0..<int(in: 0...4, &rng)).map { _ in text(&rng) }, commandEnvironment: dictionary(&rng)
        )
    }

    static func counters(_ rng: inout RNG) -> LinkCounters {
        var c = LinkCounters()
        c.dataFramesIn = integer(&rng)
        c.dataBytesOut = integer(&rng)
        c.messagesReceived = integer(&rng)
        c.decodeErrors = integer(&rng)
        c.firstUnknownType = optionalText(&rng)
        c.lastDataIn = optional(&rng, double)
        c.lastControlOut = optional(&rng, double)
        c.recentPongRttMs = (0..<int(in: 0...70, &rng)).map { _ in double(&rng) }
        c.unwritableEpisodes = integer(&rng)
        c.isWritable = Bool.random(using: &rng)
        return c
    }

    static func linkReport(_ rng: inout RNG) -> LinkReport {
        let tcp = optional(&rng) {
            TCPInfoSnapshot(rttMs: double(&$0), rttVarianceMs: double(&$0), retransmits: integer(&$0), totalRetransmits: integer(&$0),
                            unackedSegments: integer(&$0), lostSegments: integer(&$0), pathMtu: integer(&$0), sendMss: integer(&$0))
        }
        let side = LinkSideReport(counters: counters(&rng), tcp: tcp, queuedBytes: optional(&rng, integer),
                                  downlinkMode: pick(DownlinkMode.allCases, &rng), time: double(&rng))
        let reconnects = (0..<int(in: 0...4, &rng)).map { _ in ReconnectRecord(time: double(&rng), reason: text(&rng)) }
        return LinkReport(side: side, reconnects: reconnects, agentFinding: optionalText(&rng), consumerStalledSeconds: double(&rng))
    }

    static func metrics(_ rng: inout RNG) -> HostMetrics {
        HostMetrics(cpuPercent: optional(&rng, double), memoryTotalBytes: optional(&rng, int64), memoryUsedBytes: optional(&rng, int64),
                    diskTotalBytes: optional(&rng, int64), diskUsedBytes: optional(&rng, int64), load1: optional(&rng, double),
                    load5: optional(&rng, double), load15: optional(&rng, double), uptimeSeconds: optional(&rng, double))
    }

    static func result(_ rng: inout RNG) -> CommandResult {
        CommandResult(
            commandId: text(&rng), status: pick(CommandState.allCases, &rng), exitCode: optional(&rng, int32), signal: optional(&rng, int32),
            reason: optionalText(&rng), stdout: bytes(&rng), stderr: bytes(&rng), stdoutTruncated: Bool.random(using: &rng),
            stderrTruncated: Bool.random(using: &rng), startedAt: optional(&rng, double), finishedAt: double(&rng)
        )
    }

    /// One builder per message type, in `Message`'s order.
    static let messages: [@Sendable (inout RNG) -> Message] = [
        { .challenge(Challenge(nonce: text(&$0), serverVersion: text(&$0))) },
        { .hello(Hello(agentId: text(&$0), signature: text(&$0), facts: facts(&$0), stream: text(&$0), received: streamPosition(&$0))) },
        { .enroll(Enroll(token: text(&$0), publicKey: text(&$0), signature: text(&$0), facts: facts(&$0), stream: text(&$0))) },
        { .welcome(Welcome(agentId: text(&$0), epoch: integer(&$0), stream: text(&$0), received: streamPosition(&$0), heartbeatId: integer(&$0),
                           config: config(&$0), configSignature: optionalText(&$0), serverKey: optionalText(&$0),
                           nodes: optional(&$0) { rng in (0..<int(in: 0...3, &rng)).map { _ in text(&rng) } })) },
        { .heartbeat(Heartbeat(id: integer(&$0), echo: optional(&$0, integer), time: double(&$0), metrics: optional(&$0, metrics))) },
        { .configUpdate(ConfigUpdate(config: config(&$0), signature: optionalText(&$0))) },
        { .configApplied(ConfigApplied(version: integer(&$0))) },
        { .command(CommandSpec(commandId: text(&$0), kind: Bool.random(using: &$0) ? .shell : .script, text: text(&$0), interpreter: optionalText(&$0),
                               timeoutSeconds: double(&$0), expiresAt: integer(&$0), signature: optionalText(&$0))) },
        { .cancel(Cancel(commandId: text(&$0), reason: text(&$0), signature: optionalText(&$0))) },
        { .commandAck(CommandAck(commandId: text(&$0), duplicate: Bool.random(using: &$0))) },
        { .started(CommandStarted(commandId: text(&$0), pid: optional(&$0, int32), time: double(&$0))) },
        { .output(CommandOutput(commandId: text(&$0), stream: Bool.random(using: &$0) ? .stdout : .stderr, offset: integer(&$0), data: bytes(&$0))) },
        { .result(result(&$0)) },
        { .chunk(Chunk(id: integer(&$0), index: integer(&$0), count: integer(&$0), data: bytes(&$0))) },
        { .probe(Probe(id: integer(&$0), size: integer(&$0), shape: Bool.random(using: &$0) ? .plain : .command, pad: text(&$0))) },
        { .probeReply(ProbeReply(id: integer(&$0), receivedBytes: integer(&$0))) },
        { .linkReport(linkReport(&$0)) },
        { .doctor(DoctorHello(token: text(&$0))) },
        { .doctorReady(DoctorReady(budgetBytes: integer(&$0), lifetimeSeconds: double(&$0), maxEchoes: integer(&$0))) },
    ]

    /// A valid envelope around `message`: reliable messages always carry a seq, others sometimes.
    static func envelope(_ message: Message, _ rng: inout RNG) -> Envelope {
        let seq = message.isReliable || chance(4, &rng) ? position(from: 1, &rng) : nil
        return Envelope(message, seq: seq, ack: optional(&rng) { position(from: 0, &$0) })
    }

    /// One valid envelope of every message type.
    static let everyType = Generator<[Envelope], Shrink.None<[Envelope]>> { rng in
        messages.map { envelope($0(&rng), &rng) }
    }

    /// One to three small edits to a frame's bytes (a JSON token character, a control or non-ASCII
    /// byte replaced, inserted or removed): mostly still almost the frame, for the fast paths.
    static func nicked(_ frame: Data, _ rng: inout RNG) -> Data {
        var bytes = [UInt8](frame)
        for _ in 0..<int(in: 1...3, &rng) where !bytes.isEmpty {
            let at = int(in: 0...bytes.count - 1, &rng)
            let byte = pick(Array("{}[]\":,.-+eE0123456789 nulltrfase\\x=/".utf8) + [0x00, 0x1F, 0xC3, 0xFF], &rng)
            switch int(in: 0...2, &rng) {
            case 0: bytes[at] = byte
            case 1: bytes.insert(byte, at: at)
            default: bytes.remove(at: at)
            }
        }
        return Data(bytes)
    }

    /// One valid envelope of a random type.
    static func anyEnvelope(_ rng: inout RNG) -> Envelope { envelope(pick(messages, &rng)(&rng), &rng) }
}
