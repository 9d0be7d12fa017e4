import Crypto
import Foundation

/// Signatures over the work the server sends (commands, scripts, config), made with the server's
/// Ed25519 key and checked by the agent with the key it pinned at enrollment. What is signed binds
/// the agent id, command id, expiry and a digest of the body, so a proxy or relay on the path can
/// neither alter work, nor replay it to another agent, nor after it expired.
public enum WorkSigning {
    /// The exact bytes signed for a command: everything that steers its execution (agent, id, kind,
    /// interpreter, timeout, absolute start deadline, a digest of the text) and where it stands in
    /// the server's outbound stream, so a copy with another `seq` fails the check instead of moving
    /// the agent's receive position. Nil when the timeout is outside `WorkLimits` (such a command
    /// cannot be signed, nor verified).
    public static func payload(agentId: String, position: StreamPosition, command: CommandSpec) -> Data? {
        guard (WorkLimits.minTimeoutSeconds...WorkLimits.maxTimeoutSeconds).contains(command.timeoutSeconds) else { return nil }
        let digest = Hex.encode(SHA256.hash(data: Data(command.text.utf8)))
        let fields = [
            "gururmm-command-v2", agentId, position.stream, String(position.seq), command.commandId, command.kind.rawValue,
            command.interpreter ?? "", String(Int((command.timeoutSeconds * 1000).rounded())), String(command.expiresAt), digest,
        ]
        return Data(fields.joined(separator: "\n").utf8)
    }

    /// The exact bytes signed for a cancel: the command it stops, why, and its place in the stream.
    public static func payload(agentId: String, position: StreamPosition, cancel: Cancel) -> Data {
        let digest = Hex.encode(SHA256.hash(data: Data(cancel.reason.utf8)))
        let fields = ["gururmm-cancel-v1", agentId, position.stream, String(position.seq), cancel.commandId, digest]
        return Data(fields.joined(separator: "\n").utf8)
    }

    /// The exact bytes signed for a config: its canonical wire JSON (sorted keys), which holds its
    /// version, and where it travels (a `welcome` is position `seq` 0 of the server's stream).
    public static func payload(agentId: String, position: StreamPosition, config: AgentConfig) throws -> Data {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var data = Data("gururmm-config-v2\n\(agentId)\n\(position.stream)\n\(position.seq)\n".utf8)
        data.append(try encoder.encode(config))
        return data
    }

    public static func sign(_ payload: Data, with key: Curve25519.Signing.PrivateKey) throws -> String {
        try key.signature(for: payload).base64EncodedString()
    }

    /// Nil when valid; otherwise why not, in words for logs and the command's reason.
    public static func problem(signature: String?, payload: Data?, publicKey: String) -> String? {
        guard let payload else { return "a field is outside the range that can be signed" }
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
