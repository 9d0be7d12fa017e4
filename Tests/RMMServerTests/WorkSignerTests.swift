import Crypto
import Foundation
import RMMProtocol
import Testing

@testable import RMMServer

@Suite("Work signer")
struct WorkSignerTests {
    @Test("every stripe of the key signs commands and configs that verify with the one public key, for the agent named only")
    func signaturesVerify() throws {
        let signer = WorkSigner(key: Curve25519.Signing.PrivateKey())
        // Enough agents to land on every stripe (one per core) many times over.
        for n in 0..<64 {
            let agentId = "ag_\(n)"
            let spec = signer.signed(
                CommandSpec(commandId: "c_\(n)", kind: .shell, text: "uptime", interpreter: nil, timeoutSeconds: 30, validForSeconds: 60, expiresAt: 0),
                for: agentId
            )
            let payload = WorkSigning.payload(agentId: agentId, command: spec)
            #expect(WorkSigning.problem(signature: spec.signature, payload: payload, publicKey: signer.publicKey) == nil)
            let elsewhere = WorkSigning.payload(agentId: "ag_other", command: spec)
            #expect(WorkSigning.problem(signature: spec.signature, payload: elsewhere, publicKey: signer.publicKey) != nil)
            let config = AgentConfig.defaults
            let configPayload = try WorkSigning.payload(agentId: agentId, config: config)
            #expect(WorkSigning.problem(signature: signer.signature(of: config, for: agentId), payload: configPayload, publicKey: signer.publicKey) == nil)
        }
    }
}
