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
