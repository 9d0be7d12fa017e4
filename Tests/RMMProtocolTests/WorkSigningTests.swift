import Crypto
import Foundation
import Testing
@testable import RMMProtocol

@Suite("Work signing")
struct WorkSigningTests {
    let key = Curve25519.Signing.PrivateKey()
    var publicKey: String { key.publicKey.rawRepresentation.base64EncodedString() }
    let spec = CommandSpec(commandId: "c_1", kind: .script, text: "echo safe", interpreter: "/bin/bash", timeoutSeconds: 30, validForSeconds: 60, expiresAt: 1_750_000_060)

    func signed(_ spec: CommandSpec, for agent: String = "ag_1") throws -> CommandSpec {
        var spec = spec
        spec.signature = try WorkSigning.sign(WorkSigning.payload(agentId: agent, command: spec), with: key)
        return spec
    }

    func problem(_ spec: CommandSpec, agent: String = "ag_1", key: String? = nil) -> String? {
        WorkSigning.problem(signature: spec.signature, payload: WorkSigning.payload(agentId: agent, command: spec), publicKey: key ?? publicKey)
    }

    @Test("a signed command verifies, and survives the wire")
    func valid() throws {
        let command = try signed(spec)
        #expect(problem(command) == nil)
        let decoded = try WireCodec().decode(try WireCodec().encode(Envelope(.command(command), seq: 1)))
        guard case .command(let back) = decoded.message else { Issue.record("not a command"); return }
        #expect(problem(back) == nil)
    }

    @Test("altering any signed field, or replaying to another agent, breaks the signature")
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
        #expect(problem(command, agent: "ag_2") != nil, "replay to another agent")
        #expect(problem(command, key: Curve25519.Signing.PrivateKey().publicKey.rawRepresentation.base64EncodedString()) != nil, "another server")
        var unsigned = command
        unsigned.signature = nil
        #expect(problem(unsigned) == "unsigned")
    }

    @Test("configs are signed per agent")
    func config() throws {
        var config = AgentConfig.defaults
        config.labels = ["site": "lab"]
        let signature = try WorkSigning.sign(try WorkSigning.payload(agentId: "ag_1", config: config), with: key)
        #expect(WorkSigning.problem(signature: signature, payload: try WorkSigning.payload(agentId: "ag_1", config: config), publicKey: publicKey) == nil)
        config.commandEnvironment["LD_PRELOAD"] = "/tmp/evil.so"
        #expect(WorkSigning.problem(signature: signature, payload: try WorkSigning.payload(agentId: "ag_1", config: config), publicKey: publicKey) != nil)
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
