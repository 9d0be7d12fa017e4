import Crypto
import Foundation
import Testing
@testable import RMMProtocol

@Suite("AgentProof")
struct AgentProofTests {
    let key = Curve25519.Signing.PrivateKey()
    var publicKey: String { key.publicKey.rawRepresentation.base64EncodedString() }

    @Test("sign then verify")
    func signVerify() throws {
        let nonce = AgentProof.makeNonce()
        let signature = try AgentProof.sign(nonce: nonce, agentId: "a_1", key: key)
        #expect(AgentProof.verify(signature: signature, nonce: nonce, agentId: "a_1", publicKey: publicKey))
    }

    @Test("wrong nonce, agent id or key fails")
    func wrongInputs() throws {
        let nonce = AgentProof.makeNonce()
        let signature = try AgentProof.sign(nonce: nonce, agentId: "a_1", key: key)
        #expect(!AgentProof.verify(signature: signature, nonce: AgentProof.makeNonce(), agentId: "a_1", publicKey: publicKey))
        #expect(!AgentProof.verify(signature: signature, nonce: nonce, agentId: "a_2", publicKey: publicKey))
        let other = Curve25519.Signing.PrivateKey().publicKey.rawRepresentation.base64EncodedString()
        #expect(!AgentProof.verify(signature: signature, nonce: nonce, agentId: "a_1", publicKey: other))
        // Fields are separated, so moving text between nonce and agent id does not keep a signature valid.
        let split = try AgentProof.sign(nonce: "ab", agentId: "c", key: key)
        #expect(!AgentProof.verify(signature: split, nonce: "a", agentId: "bc", publicKey: publicKey))
        // A tampered signature fails.
        var bytes = try #require(Data(base64Encoded: signature))
        bytes[0] ^= 1
        #expect(!AgentProof.verify(signature: bytes.base64EncodedString(), nonce: nonce, agentId: "a_1", publicKey: publicKey))
    }

    @Test("garbage input returns false instead of throwing", arguments: [
        ("not base64!!", nil), ("", nil), ("AAAA", nil), (nil, "not base64!!"), (nil, ""), (nil, "AAAA"),
    ] as [(String?, String?)])
    func garbage(signature: String?, publicKey: String?) throws {
        let nonce = "n"
        let good = try AgentProof.sign(nonce: nonce, agentId: "a", key: key)
        #expect(!AgentProof.verify(signature: signature ?? good, nonce: nonce, agentId: "a", publicKey: publicKey ?? self.publicKey))
    }

    @Test("nonces are fresh 32-byte values")
    func nonces() throws {
        let a = AgentProof.makeNonce(), b = AgentProof.makeNonce()
        #expect(a != b)
        #expect(try #require(Data(base64Encoded: a)).count == 32)
    }

    @Test("payload layout is stable (agents and servers of different builds must agree)")
    func payload() {
        #expect(AgentProof.payload(nonce: "N", agentId: "A") == Data("gururmm-agent-auth-v1\nN\nA".utf8))
    }
}

@Suite("AgentConfig")
struct AgentConfigTests {
    @Test("defaults are valid")
    func defaultsValid() {
        #expect(AgentConfig.defaults.problems().isEmpty)
        #expect(AgentConfig.defaults.maxMessageBytes <= WireLimits.maxFrameBytes / 2)
    }

    static let bad: [(String, @Sendable (inout AgentConfig) -> Void, String)] = [
        ("version 0", { $0.version = 0 }, "version"),
        ("heartbeat 0", { $0.heartbeatInterval = 0 }, "heartbeat_interval"),
        ("heartbeat huge", { $0.heartbeatInterval = 4000; $0.heartbeatDeadline = 9000 }, "heartbeat_interval"),
        ("heartbeat NaN", { $0.heartbeatInterval = .nan }, "heartbeat_interval"),
        ("deadline too short", { $0.heartbeatDeadline = 29 }, "heartbeat_deadline"),
        ("ping 0", { $0.pingInterval = 0 }, "ping_interval"),
        ("concurrency 0", { $0.maxConcurrentCommands = 0 }, "max_concurrent_commands"),
        ("concurrency 257", { $0.maxConcurrentCommands = 257 }, "max_concurrent_commands"),
        ("queue negative", { $0.maxQueuedCommands = -1 }, "max_queued_commands"),
        ("output cap small", { $0.outputCapBytes = 1023 }, "output_cap_bytes"),
        ("output cap big", { $0.outputCapBytes = (8 << 20) + 1 }, "output_cap_bytes"),
        ("output cap huge", { $0.outputCapBytes = 1 << 40 }, "output_cap_bytes"),
        ("output chunk small", { $0.outputChunkBytes = 511 }, "output_chunk_bytes"),
        ("ack deadline 0", { $0.ackDeadline = 0 }, "ack_deadline"),
        ("message small", { $0.maxMessageBytes = 1000 }, "max_message_bytes"),
        ("message over half a frame", { $0.maxMessageBytes = WireLimits.maxFrameBytes / 2 + 1 }, "max_message_bytes"),
    ]

    @Test("bad values are reported by name", arguments: 0..<bad.count)
    func badValues(_ index: Int) {
        let (name, mutate, field) = Self.bad[index]
        var config = AgentConfig.defaults
        mutate(&config)
        let problems = config.problems()
        #expect(problems.contains { $0.contains(field) }, "\(name): \(problems)")
    }

    @Test("several problems are all reported")
    func several() {
        var config = AgentConfig.defaults
        config.version = 0
        config.pingInterval = -1
        config.ackDeadline = 99999
        #expect(config.problems().count == 3)
    }

    @Test("boundary values are accepted")
    func boundaries() {
        var config = AgentConfig.defaults
        config.heartbeatInterval = 1
        config.heartbeatDeadline = 2
        config.pingInterval = 3600
        config.maxConcurrentCommands = 256
        config.maxQueuedCommands = 0
        config.outputCapBytes = 8 << 20
        config.outputChunkBytes = 1 << 20
        config.ackDeadline = 1
        config.maxMessageBytes = 1024
        #expect(config.problems() == [])
    }
}

@Suite("WireCodec fuzz")
struct WireCodecFuzzTests {
    static let iterations = 2_000

    /// Random bytes and random mutations of valid envelopes: decode must only ever throw
    /// `WireDecodeError` (typed throws guarantees the type; the test guarantees no trap), and whatever
    /// it accepts must encode and decode back to itself.
    @Test("random input never crashes the decoder (seed 0xC0DEC)")
    func fuzz() throws {
        var rng = SplitMix64(seed: 0xC0DEC)
        let codec = WireCodec()
        let seeds = try Samples.envelopes.map { try codec.encode($0) }
        let tokens: [[UInt8]] = ["{", "}", "[", "]", ",", ":", "\"", "\\", "null", "true", "-1", "0", "1e999", "9223372036854775808",
                                  "\"v\":1", "\"seq\":", "\"body\":", "\"t\":\"chunk\"", "\\u0000", "\u{FFFF}", "1.5"].map { Array($0.utf8) }
        var accepted = 0
        var errors: [String: Int] = [:]
        for i in 0..<Self.iterations {
            var bytes: [UInt8]
            if i % 5 == 0 {
                bytes = (0..<Int.random(in: 0...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            } else {
                bytes = Array(seeds[Int.random(in: 0..<seeds.count, using: &rng)])
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    guard !bytes.isEmpty else { break }
                    let at = Int.random(in: 0..<bytes.count, using: &rng)
                    switch Int.random(in: 0..<6, using: &rng) {
                    case 0: bytes[at] = UInt8.random(in: 0...255, using: &rng)
                    case 1: bytes[at] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
                    case 2: bytes.removeSubrange(at..<min(bytes.count, at + Int.random(in: 1...8, using: &rng)))
                    case 3: bytes.insert(contentsOf: tokens[Int.random(in: 0..<tokens.count, using: &rng)], at: at)
                    case 4: bytes = Array(bytes[..<at])
                    default:
                        // Swap a digit for another digit: often still valid JSON with different numbers.
                        if let d = bytes[at...].firstIndex(where: { (0x30...0x39).contains($0) }) {
                            bytes[d] = UInt8.random(in: 0x30...0x39, using: &rng)
                        }
                    }
                }
            }
            let data = Data(bytes)
            do {
                let envelope = try codec.decode(data)
                accepted += 1
                let again = try codec.encode(envelope)
                let back = try codec.decode(again)
                #expect(back == envelope, "iteration \(i): re-decoding changed the envelope")
            } catch let error as WireDecodeError {
                switch error {
                case .malformed: errors["malformed", default: 0] += 1
                case .unsupportedVersion: errors["version", default: 0] += 1
                case .unknownType: errors["unknown", default: 0] += 1
                case .tooLarge: errors["tooLarge", default: 0] += 1
                }
            } catch {
                Issue.record("iteration \(i): encode threw \(error) for an accepted envelope")
            }
        }
        // Sanity: the mutator produced both valid and invalid input.
        #expect(accepted > 0)
        #expect(errors["malformed", default: 0] > 0)
    }

    @Test("random chunk sequences never crash the reassembler (seeded)")
    func reassemblerFuzz() {
        var rng = SplitMix64(seed: 99)
        var r = Reassembler(maxMessageBytes: 64)
        var completed = 0
        for _ in 0..<Self.iterations {
            let count = Int.random(in: -2...6, using: &rng)
            let chunk = Chunk(id: Int.random(in: 0...3, using: &rng), index: Int.random(in: -1...6, using: &rng), count: count,
                              data: Data(repeating: 0x61, count: Int.random(in: 0...30, using: &rng)))
            do {
                if let whole = try r.add(chunk) {
                    completed += 1
                    #expect(whole.count <= 64)
                }
            } catch {
                // After an error the link would close; start afresh like a new connection.
                r = Reassembler(maxMessageBytes: 64)
            }
        }
        #expect(completed > 0)
    }
}
