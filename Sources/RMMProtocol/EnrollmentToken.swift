import Foundation

/// An enrollment token as operators paste it: `SECRET.SERVERKEY.TLSTRUST`.
///
/// Everything the agent needs to trust the server travels in it, so enrolling takes no manual
/// trust step: the server's Ed25519 signing key (base64url) and how to trust its TLS listener —
/// the pin of its certificate key, or `system` for a server behind a proxy with a public
/// certificate. The trust part is absent for a server run with `--plain`, the key part only in
/// tokens from servers older than signed work.
public struct EnrollmentToken: Sendable, Equatable {
    /// The part the server checks (it stores only its hash).
    public var secret: String
    /// The server's signing key, standard base64 (as in `Welcome.serverKey`).
    public var serverKey: String?
    /// The TLS trust text (`system` or a key pin), read by the transport.
    public var tlsTrust: String?

    public init(parsing token: String) {
        // Split on "." scalars, not Characters: a combining mark must not hide a dot in a grapheme.
        let parts = token.unicodeScalars.split(separator: ".", omittingEmptySubsequences: false).map { String(String.UnicodeScalarView($0)) }
        secret = parts[0]
        serverKey = parts.count > 1 && !parts[1].isEmpty ? Self.standardBase64(parts[1]) : nil
        tlsTrust = parts.count > 2 && !parts[2].isEmpty ? parts[2] : nil
    }

    /// The token text for a secret, the server's public key (standard base64) and its TLS trust.
    public static func compose(secret: String, serverKey: String, tlsTrust: String?) -> String {
        [secret, WorkSigning.tokenKeyPart(serverKey)].joined(separator: ".") + (tlsTrust.map { "." + $0 } ?? "")
    }

    private static func standardBase64(_ urlSafe: String) -> String {
        let key = urlSafe.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        // Padding counts bytes, not Characters (a hostile token may hold anything).
        return key + String(repeating: "=", count: (4 - key.utf8.count % 4) % 4)
    }
}
