import Logging
import NIOSSL
import PostgresNIO

/// A connection of its own outside the store's pool (a LISTEN or a session-level advisory lock
/// belongs to one connection, which a pool would hand to others).
enum PostgresDedicatedConnection {
    /// `purpose` names the connection in `pg_stat_activity.application_name`.
    static func connect(_ location: PostgresLocation, password: String?, logger: Logger, purpose: String = "gururmm") async throws -> PostgresConnection {
        var configuration: PostgresConnection.Configuration
        switch location.endpoint {
        case .unixSocket(let path):
            configuration = .init(unixSocketPath: path, username: location.user, password: password, database: location.database)
        case .tcp(let host, let port):
            let tls = try PostgresStore.tlsSettings(location)
            configuration = .init(host: host, port: port, username: location.user, password: password, database: location.database,
                                  tls: try tls.map { .require(try NIOSSLContext(configuration: $0)) } ?? .disable)
        }
        configuration.options.connectTimeout = .seconds(10)
        configuration.options.additionalStartupParameters = [("application_name", purpose)]
        return try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
    }
}
