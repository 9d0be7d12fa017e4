import Crypto
import Foundation
import RMMProtocol
import Testing

@testable import RMMServer

@Suite("Work signer")
struct WorkSignerTests {
    @Test("every stripe of the key signs commands, cancels and configs that verify with the one public key, for the agent and place named only")
    func signaturesVerify() throws {
        let signer = WorkSigner(key: Curve25519.Signing.PrivateKey())
        let here = StreamPosition(stream: "s-server", seq: 7)
        // Enough agents to land on every stripe (one per core) many times over.
        for n in 0..<64 {
            let agentId = "ag_\(n)"
            let verifier = WorkVerifier(agentId: agentId, serverKey: signer.publicKey)
            let spec = signer.signed(
                CommandSpec(commandId: "c_\(n)", kind: .shell, text: "uptime", interpreter: nil, timeoutSeconds: 30, expiresAt: 1_750_000_060),
                for: agentId, at: here
            )
            #expect(verifier.refusal(spec, at: here, now: 1_750_000_000) == nil)
            #expect(WorkVerifier(agentId: "ag_other", serverKey: signer.publicKey).refusal(spec, at: here, now: 1_750_000_000) != nil)
            let cancel = signer.signed(Cancel(commandId: "c_\(n)", reason: "operator"), for: agentId, at: here)
            #expect(verifier.refusal(cancel, at: here) == nil)
            let config = AgentConfig.defaults
            let signature = signer.signature(of: config, for: agentId, at: here)
            #expect(verifier.refusal(config, signature: signature, at: here, appliedVersion: nil) == nil)
        }
    }
}
