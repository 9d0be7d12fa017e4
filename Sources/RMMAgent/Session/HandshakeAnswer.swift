import Crypto
import RMMProtocol

/// The agent's half of the handshake, shared by the agent and the fleet simulator: the answer to
/// the server's challenge, and which server signing key the welcome must carry.
public enum HandshakeAnswer {
    /// `hello` signed for `agentId` when enrolled; otherwise `enroll` with the token, signed for the
    /// public key; nil when not enrolled and there is no token.
    public static func envelope(
        to challenge: Challenge, agentId: String?, key: Curve25519.Signing.PrivateKey, enrollToken: String?,
        facts: AgentFacts, stream: String, received: StreamPosition?
    ) throws -> Envelope? {
        if let agentId {
            let signature = try AgentProof.sign(nonce: challenge.nonce, agentId: agentId, key: key)
            return Envelope(.hello(Hello(agentId: agentId, signature: signature, facts: facts, stream: stream, received: received)))
        }
        guard let enrollToken else { return nil }
        let publicKey = key.publicKey.rawRepresentation.base64EncodedString()
        let signature = try AgentProof.sign(nonce: challenge.nonce, agentId: publicKey, key: key)
        return Envelope(.enroll(Enroll(token: enrollToken, publicKey: publicKey, signature: signature, facts: facts, stream: stream)))
    }

    /// The server signing key a welcome must carry: the one pinned at enrollment, else the one the
    /// enrollment token names; nil when neither is known (pin on first use).
    public static func expectedServerKey(pinned: String?, enrollToken: String?) -> String? {
        pinned ?? enrollToken.flatMap { EnrollmentToken(parsing: $0).serverKey }
    }

    /// Why a welcome must be refused (it names another server key), or nil.
    public static func keyMismatch(_ welcome: Welcome, expected: String?) -> String? {
        guard let expected, welcome.serverKey != expected else { return nil }
        return "server key does not match the pinned key"
    }
}
