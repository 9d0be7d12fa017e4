import Crypto
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL

/// How a client decides that a TLS server is the right one.
///
/// `pinned`: the server's leaf certificate must carry the public key whose SHA-256 (over its
/// SubjectPublicKeyInfo, base64url) was pinned — no CA, no hostname, no manual trust step, and a
/// renewed certificate with the same key keeps working. `system`: the system's CA store and the
/// hostname decide, for servers behind a TLS-terminating proxy with a public certificate (or a
/// private CA's, named by `SSL_CERT_FILE` as for OpenSSL's tools: `systemCAFile(environment:)`).
public enum TLSTrust: Sendable, Hashable, CustomStringConvertible {
    case pinned(String)
    case system

    /// Reads the trust part of an enrollment token or a `--pin` flag: `system`, or a key pin.
    public init(parsing text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed == "system" {
            self = .system
            return
        }
        let pin = trimmed.hasPrefix("sha256:") ? String(trimmed.dropFirst(7)) : trimmed
        guard pin.count == 43, pin.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else {
            throw TransportError.badURL("'\(text)' is not a TLS pin (43 base64url characters of SHA-256) or 'system'")
        }
        self = .pinned(pin)
    }

    /// The text form, as carried in enrollment tokens and `server.json`.
    public var description: String {
        switch self {
        case .pinned(let pin): return pin
        case .system: return "system"
        }
    }

    /// The pin of a certificate: base64url SHA-256 of its SubjectPublicKeyInfo.
    public static func pin(of certificate: NIOSSLCertificate) throws -> String {
        let spki = try certificate.extractPublicKey().toSPKIBytes()
        return Data(SHA256.hash(data: spki)).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// A TLS client handler that enforces this trust; `host` is the name connected to (SNI, and
    /// the hostname check under `system`).
    public func makeClientHandler(host: String) throws -> NIOSSLClientHandler {
        let context = try Self.clientContext(for: self)
        // SNI must not be an IP address literal.
        let sniName = Self.isIPAddress(host) ? nil : host
        switch self {
        case .system:
            return try NIOSSLClientHandler(context: context, serverHostname: sniName)
        case .pinned(let expected):
            // The pin replaces CA and hostname checks: BoringSSL's verification is overridden by the
            // callback, which accepts exactly the pinned key.
            return try NIOSSLClientHandler(
                context: context, serverHostname: sniName,
                customVerificationCallback: { certificates, promise in
                    guard let leaf = certificates.first, let pin = try? Self.pin(of: leaf), pin == expected else {
                        promise.succeed(.failed)
                        return
                    }
                    promise.succeed(.certificateVerified)
                }
            )
        }
    }

    /// One client context per trust for the whole process: a context is costly to make (under
    /// `system` it loads the CA store), and reconnects, or a simulated fleet of thousands of
    /// connections, would otherwise make one per connection. NIOSSLContext is thread-safe.
    private static let contexts = NIOLockedValueBox<[TLSTrust: NIOSSLContext]>([:])

    private static func clientContext(for trust: TLSTrust) throws -> NIOSSLContext {
        try contexts.withLockedValue { cache in
            if let context = cache[trust] { return context }
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.minimumTLSVersion = .tlsv12
            switch trust {
            case .pinned: configuration.certificateVerification = .noHostnameVerification
            case .system: configuration.trustRoots = systemCAFile(environment: ProcessInfo.processInfo.environment).map { .file($0) } ?? .default
            }
            let context = try NIOSSLContext(configuration: configuration)
            cache[trust] = context
            return context
        }
    }

    /// The CA file `system` trust uses instead of the system's store: the one `SSL_CERT_FILE`
    /// names (a site's own CA, as OpenSSL's tools and curl read it); nil: the system's store.
    public static func systemCAFile(environment: [String: String]) -> String? {
        guard let file = environment["SSL_CERT_FILE"], !file.isEmpty else { return nil }
        return file
    }

    static func isIPAddress(_ host: String) -> Bool {
        (try? SocketAddress(ipAddress: host, port: 0)) != nil
    }
}

/// Turns TLS and connection errors into what an operator can act on.
public enum TLSFailure {
    public static func explain(_ error: any Error, trust: TLSTrust?) -> String {
        guard let trust else { return "\(error)" }
        if error is NIOSSLError || error is BoringSSLError {
            switch trust {
            case .pinned:
                return "TLS handshake failed (\(error)): the server's certificate does not carry the pinned key — a different server, an interceptor, or a TLS-terminating proxy is in the path (enroll with a 'system' trust token behind such a proxy)"
            case .system:
                return "TLS handshake failed (\(error)): the server's certificate is not trusted by this system's CA store for this hostname"
            }
        }
        return "\(error)"
    }
}
