import Crypto
import Foundation
import Testing
@testable import RMMProtocol

@Suite("Work signing")
struct WorkSigningTests {
    let key = Curve25519.Signing.PrivateKey()
    var publicKey: String { key.publicKey.rawRepresentation.base64EncodedString() }
    let now = 1_750_000_000.0
    let spec = CommandSpec(commandId: "c_1", kind: .script, text: "echo safe", interpreter: "/bin/bash", timeoutSeconds: 30, expiresAt: 1_750_000_060)
    let here = StreamPosition(stream: "s-server", seq: 5)

    func signed(_ spec: CommandSpec, for agent: String = "ag_1", at position: StreamPosition? = nil) throws -> CommandSpec {
        var spec = spec
        let payload = try #require(WorkSigning.payload(agentId: agent, position: position ?? here, command: spec))
        spec.signature = try WorkSigning.sign(payload, with: key)
        return spec
    }

    func problem(_ spec: CommandSpec, agent: String = "ag_1", key: String? = nil, at position: StreamPosition? = nil) -> String? {
        WorkSigning.problem(signature: spec.signature, payload: WorkSigning.payload(agentId: agent, position: position ?? here, command: spec), publicKey: key ?? publicKey)
    }

    var verifier: WorkVerifier { WorkVerifier(agentId: "ag_1", serverKey: publicKey) }

    @Test("a signed command verifies, and survives the wire")
    func valid() throws {
        let command = try signed(spec)
        #expect(problem(command) == nil)
        let decoded = try WireCodec().decode(try WireCodec().encode(Envelope(.command(command), seq: 5)))
        guard case .command(let back) = decoded.message else { Issue.record("not a command"); return }
        #expect(problem(back) == nil)
        #expect(verifier.refusal(back, at: here, now: now) == nil)
    }

    @Test("altering any signed field, moving it in the stream, or replaying it to another agent breaks the signature")
    func tampering() throws {
        let command = try signed(spec)
        var altered = command
        altered.text = "echo evil"
        #expect(problem(altered) != nil)
        altered = command
        altered.commandId = "c_2"
        #expect(problem(altered) != nil)
        altered = command
        altered.expiresAt = 1_999_999_999
        #expect(problem(altered) != nil)
        altered = command
        altered.interpreter = "/usr/bin/python3"
        #expect(problem(altered) != nil)
        altered = command
        altered.timeoutSeconds = 3600
        #expect(problem(altered) != nil)
        #expect(problem(command, at: StreamPosition(stream: here.stream, seq: 1 << 52)) != nil, "the same frame at another seq")
        #expect(problem(command, at: StreamPosition(stream: "s-other", seq: here.seq)) != nil, "the same frame on another stream")
        #expect(problem(command, agent: "ag_2") != nil, "replay to another agent")
        #expect(problem(command, key: Curve25519.Signing.PrivateKey().publicKey.rawRepresentation.base64EncodedString()) != nil, "another server")
        var unsigned = command
        unsigned.signature = nil
        #expect(problem(unsigned) == "unsigned")
        #expect(verifier.refusal(altered, at: here, now: now).map { if case .forged = $0 { true } else { false } } == true)
    }

    @Test("a timeout outside the protocol's range cannot be signed or verified, and never traps")
    func timeoutOutOfRange() {
        for timeout in [Double.nan, .infinity, -.infinity, 1e300, -1, 0, WorkLimits.maxTimeoutSeconds + 1] {
            var command = spec
            command.timeoutSeconds = timeout
            #expect(WorkSigning.payload(agentId: "ag_1", position: here, command: command) == nil)
            #expect(problem(command) != nil)
        }
    }

    @Test("the signed start deadline bounds acceptance: not after it (plus skew), not further away than the maximum validity")
    func deadline() throws {
        var command = spec
        command.expiresAt = Int(now) + 60
        #expect(verifier.refusal(try signed(command), at: here, now: now) == nil)
        #expect(verifier.refusal(try signed(command), at: here, now: now + 60 + WorkLimits.clockSkewSeconds) == nil)
        let late = verifier.refusal(try signed(command), at: here, now: now + 61 + WorkLimits.clockSkewSeconds)
        #expect(late == .refused("its signed start deadline has passed"))
        command.expiresAt = Int(now + WorkLimits.maxValiditySeconds + WorkLimits.clockSkewSeconds)
        #expect(verifier.refusal(try signed(command), at: here, now: now) == nil)
        command.expiresAt += 1
        let far = try #require(verifier.refusal(try signed(command), at: here, now: now))
        guard case .refused(let why) = far else { Issue.record("\(far)"); return }
        #expect(why.contains("maximum validity"))
    }

    @Test("a cancel is signed: another command, reason, place or agent breaks it")
    func cancel() throws {
        var cancel = Cancel(commandId: "c_1", reason: "operator asked")
        cancel.signature = try WorkSigning.sign(WorkSigning.payload(agentId: "ag_1", position: here, cancel: cancel), with: key)
        #expect(verifier.refusal(cancel, at: here) == nil)
        #expect(verifier.refusal(cancel, at: StreamPosition(stream: here.stream, seq: 6)) != nil)
        #expect(WorkVerifier(agentId: "ag_2", serverKey: publicKey).refusal(cancel, at: here) != nil)
        var other = cancel
        other.commandId = "c_2"
        #expect(verifier.refusal(other, at: here) != nil)
        other = cancel
        other.reason = "x"
        #expect(verifier.refusal(other, at: here) != nil)
        other = cancel
        other.signature = nil
        #expect(verifier.refusal(other, at: here) != nil)
    }

    @Test("configs are signed per agent and place, and an older version is refused even when signed")
    func config() throws {
        var config = AgentConfig.defaults
        config.version = 5
        config.labels = ["site": "lab"]
        let signature = try WorkSigning.sign(try WorkSigning.payload(agentId: "ag_1", position: here, config: config), with: key)
        #expect(verifier.refusal(config, signature: signature, at: here, appliedVersion: nil) == nil)
        #expect(verifier.refusal(config, signature: signature, at: here, appliedVersion: 5) == nil)
        #expect(verifier.refusal(config, signature: signature, at: here, appliedVersion: 6) == .refused("config version 5 is older than version 6, which this agent already applied"))
        #expect(verifier.refusal(config, signature: signature, at: WorkVerifier.welcomePosition(stream: here.stream), appliedVersion: nil) != nil)
        config.commandEnvironment["LD_PRELOAD"] = "/tmp/evil.so"
        #expect(verifier.refusal(config, signature: signature, at: here, appliedVersion: nil) != nil)
    }

    @Test("an enrollment token carries the server key the agent pins")
    func enrollmentToken() {
        let token = "gre_abc." + WorkSigning.tokenKeyPart(publicKey)
        let (secret, key) = WorkSigning.splitEnrollmentToken(token)
        #expect(secret == "gre_abc")
        #expect(key == publicKey)
        #expect(WorkSigning.splitEnrollmentToken("gre_plain") == ("gre_plain", nil))
    }

    @Test("an enrollment token carries the TLS trust too, and composes back to the same text")
    func enrollmentTokenWithTLS() {
        let pin = String(repeating: "x", count: 43)
        let text = EnrollmentToken.compose(secret: "gre_abc", serverKey: publicKey, tlsTrust: pin)
        let parsed = EnrollmentToken(parsing: text)
        #expect(parsed == EnrollmentToken(parsing: "gre_abc." + WorkSigning.tokenKeyPart(publicKey) + "." + pin))
        #expect(parsed.secret == "gre_abc" && parsed.serverKey == publicKey && parsed.tlsTrust == pin)
        #expect(EnrollmentToken(parsing: EnrollmentToken.compose(secret: "s", serverKey: publicKey, tlsTrust: nil)).tlsTrust == nil)
        #expect(EnrollmentToken(parsing: "s..system") == EnrollmentToken(parsing: "s..system"))
        #expect(EnrollmentToken(parsing: "s..system").serverKey == nil)
        #expect(EnrollmentToken(parsing: "").secret == "")
    }
}
