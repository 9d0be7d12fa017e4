import Foundation

/// Where a PostgreSQL store lives, parsed from `postgres://USER@HOST:PORT/DB[?options]`.
///
/// The password is never part of the URL (a command line is visible to every user of the host in
/// `ps`): it comes from the environment or a file (`PostgresLocation.password(environment:file:)`).
/// Options, as libpq names them:
/// - `host=/dir`: connect through the unix socket `/dir/.s.PGSQL.PORT` instead of TCP;
/// - `sslmode=disable|require|verify-full` (TCP only; default `disable` on loopback and a unix
///   socket, `verify-full` elsewhere), and `sslrootcert=FILE`, the CA certificates to verify the
///   database's certificate with (default: the system's).
public struct PostgresLocation: Sendable, Equatable, CustomStringConvertible {
    /// How the store reaches the server.
    public enum Endpoint: Sendable, Equatable {
        case tcp(host: String, port: Int)
        /// The socket file's full path.
        case unixSocket(path: String)
    }

    /// TLS to the database.
    public enum TLSMode: String, Sendable, Equatable {
        case disable
        /// Encrypted, without checking whose certificate it is.
        case require
        /// Encrypted to a server whose certificate chains to the trusted CAs and names the host.
        case verifyFull = "verify-full"
    }

    public var endpoint: Endpoint
    public var user: String
    public var database: String
    public var tls: TLSMode
    /// PEM file of CA certificates for `verify-full`; nil: the system's trust store.
    public var rootCertificatePath: String?

    /// The environment variable the password may come from.
    public static let passwordVariable = "GURURMM_STORE_PASSWORD"

    /// Parses a `postgres://` (or `postgresql://`) URL; the message of a thrown error says what to fix.
    public init(parsing text: String) throws(PostgresLocationError) {
        guard text.utf8.count <= 2048 else { throw .init("the store URL is longer than 2048 bytes") }
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased() else {
            throw .init("not a URL: expected postgres://USER@HOST:PORT/DB")
        }
        guard scheme == "postgres" || scheme == "postgresql" else {
            throw .init("unsupported scheme \(scheme)://: expected postgres://USER@HOST:PORT/DB")
        }
        guard components.password == nil else {
            throw .init("the URL holds a password; give it in \(Self.passwordVariable) or --store-password-file instead, never on the command line")
        }
        guard let user = components.user, !user.isEmpty else { throw .init("the URL names no user: postgres://USER@HOST:PORT/DB") }
        let database = String(components.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty, !database.contains("/") else { throw .init("the URL names no database: postgres://USER@HOST:PORT/DB") }
        let port = components.port ?? 5432
        guard (1...65535).contains(port) else { throw .init("port \(port) is out of range 1–65535") }

        var socketDirectory: String?
        var sslmode: TLSMode?
        var rootCertificate: String?
        for item in components.queryItems ?? [] {
            guard let value = item.value, !value.isEmpty else { throw .init("option \(item.name) has no value") }
            switch item.name {
            case "host":
                guard value.hasPrefix("/") else { throw .init("host= must be a socket directory (an absolute path)") }
                socketDirectory = value
            case "sslmode":
                guard let mode = TLSMode(rawValue: value) else { throw .init("sslmode must be disable, require or verify-full, not \(value)") }
                sslmode = mode
            case "sslrootcert":
                rootCertificate = value
            default:
                throw .init("unknown option \(item.name) (known: host, sslmode, sslrootcert)")
            }
        }

        if let socketDirectory {
            guard sslmode == nil || sslmode == .disable else { throw .init("TLS is not used over a unix socket: drop sslmode") }
            endpoint = .unixSocket(path: socketDirectory + "/.s.PGSQL.\(port)")
            tls = .disable
        } else {
            guard let host = components.host, !host.isEmpty else { throw .init("the URL names no host") }
            endpoint = .tcp(host: host, port: port)
            tls = sslmode ?? (Self.isLoopback(host) ? .disable : .verifyFull)
        }
        guard rootCertificate == nil || tls == .verifyFull else { throw .init("sslrootcert is only used with sslmode=verify-full") }
        self.user = user
        self.database = database
        self.rootCertificatePath = rootCertificate
    }

    /// The password: the file's first line if `file` is given, else `GURURMM_STORE_PASSWORD`, else
    /// none (trust or peer authentication, as on a unix socket).
    public static func password(environment: [String: String], file: String?) throws(PostgresLocationError) -> String? {
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else { throw .init("cannot read the password file \(file)") }
            guard data.count <= 4096 else { throw .init("the password file \(file) is larger than 4096 bytes") }
            // "\r\n" is one Character in Swift, so split on any newline rather than on "\n".
            let password = String(String(decoding: data, as: UTF8.self).split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).first ?? "")
            guard !password.isEmpty else { throw .init("the password file \(file) is empty") }
            return password
        }
        return environment[passwordVariable].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The URL without secrets, for logs and errors.
    public var description: String {
        switch endpoint {
        case .tcp(let host, let port):
            let shownHost = host.contains(":") ? "[\(host)]" : host
            return "postgres://\(user)@\(shownHost):\(port)/\(database)" + (tls == .disable ? "" : "?sslmode=\(tls.rawValue)")
        case .unixSocket(let path):
            return "postgres://\(user)@/\(database) (socket \(path))"
        }
    }

    private static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }
}

/// Why a store URL or password was refused.
public struct PostgresLocationError: Error, Equatable, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
