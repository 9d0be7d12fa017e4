import Crypto
import Foundation

/// How an agent proves it holds its Ed25519 key: it signs the server's nonce bound to its identity.
public enum AgentProof {
    /// The exact bytes that get signed. Binding the agent id stops a signature being replayed for another agent.
    public static func payload(nonce: String, agentId: String) -> Data {
        Data("gururmm-agent-auth-v1\n\(nonce)\n\(agentId)".utf8)
    }

    /// Signs a challenge, returning the base64 signature.
    public static func sign(nonce: String, agentId: String, key: Curve25519.Signing.PrivateKey) throws -> String {
        try key.signature(for: payload(nonce: nonce, agentId: agentId)).base64EncodedString()
    }

    /// Checks a signature against a base64 raw public key. False on any malformed input.
    public static func verify(signature: String, nonce: String, agentId: String, publicKey: String) -> Bool {
        guard let sig = Data(base64Encoded: signature), let raw = Data(base64Encoded: publicKey),
              let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw) else { return false }
        return key.isValidSignature(sig, for: payload(nonce: nonce, agentId: agentId))
    }

    /// A fresh random nonce, base64.
    public static func makeNonce() -> String {
        var rng = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
        return Data(bytes).base64EncodedString()
    }
}
