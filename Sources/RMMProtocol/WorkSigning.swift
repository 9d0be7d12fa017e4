import Crypto
import Foundation

/// Signatures over the work the server sends (commands, scripts, config), made with the server's
/// Ed25519 key and checked by the agent with the key it pinned at enrollment. What is signed binds
/// the agent id, command id, expiry and a digest of the body, so a proxy or relay on the path can
/// neither alter work, nor replay it to another agent, nor after it expired.
public enum WorkSigning {
    /// The exact bytes signed for a command.
    public static func payload(agentId: String, command: CommandSpec) -> Data {
        let digest = Hex.encode(SHA256.hash(data: Data(command.text.utf8)))
        let fields = [
            "gururmm-command-v1", agentId, command.commandId, command.kind.rawValue, command.interpreter ?? "",
            String(Int((command.timeoutSeconds * 1000).rounded())), String(command.expiresAt ?? 0), digest,
        ]
        return Data(fields.joined(separator: "\n").utf8)
    }

    /// The exact bytes signed for a config: its canonical wire JSON (sorted keys).
    public static func payload(agentId: String, config: AgentConfig) throws -> Data {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var data = Data("gururmm-config-v1\n\(agentId)\n".utf8)
        data.append(try encoder.encode(config))
        return data
    }

    public static func sign(_ payload: Data, with key: Curve25519.Signing.PrivateKey) throws -> String {
        try key.signature(for: payload).base64EncodedString()
    }

    /// Nil when valid; otherwise why not, in words for logs and the command's reason.
    public static func problem(signature: String?, payload: Data, publicKey: String) -> String? {
        guard let signature, let raw = Data(base64Encoded: signature) else { return "unsigned" }
        guard let keyData = Data(base64Encoded: publicKey), let key = try? Curve25519.Signing.PublicKey(rawRepresentation: keyData) else {
            return "the pinned server key is unreadable"
        }
        return key.isValidSignature(raw, for: payload) ? nil : "signature does not match (altered in transit, or not from this server)"
    }

    /// Splits an enrollment token into the secret and the server's public key (base64), which the
    /// agent pins; a token without a key part pins on first use. See ``EnrollmentToken``.
    public static func splitEnrollmentToken(_ token: String) -> (secret: String, serverKey: String?) {
        let parsed = EnrollmentToken(parsing: token)
        return (parsed.secret, parsed.serverKey)
    }

    /// The key part of an enrollment token (base64url, no padding).
    public static func tokenKeyPart(_ publicKey: String) -> String {
        publicKey.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }
}
