import Foundation
import Logging
import NIOSSL
import PostgresNIO

/// A connection of its own outside the store's pool (a LISTEN or a session-level advisory lock
/// belongs to one connection, which a pool would hand to others).
enum PostgresDedicatedConnection {
    static func connect(_ location: PostgresLocation, password: String?, logger: Logger) async throws -> PostgresConnection {
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
        return try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
    }
}

/// LISTENs on one channel on a dedicated connection and reconnects by itself with backoff; after
/// every reconnect it reports a `gap` (notifications sent meanwhile are lost).
public struct PostgresListener: Sendable {
    /// What the listener hears.
    public enum Event: Sendable, Equatable {
        case payload(String)
        /// The connection was lost and is listening again: anything may have been missed.
        case gap
    }

    /// The channel every node listens on and notifies.
    public static let channel = "gururmm_signals"

    let location: PostgresLocation
    let password: String?
    let logger: Logger

    public init(location: PostgresLocation, password: String?, logger: Logger) {
        self.location = location
        self.password = password
        self.logger = logger
    }

    /// Listens until the task is cancelled, yielding what it hears.
    public func run(into continuation: AsyncStream<Event>.Continuation) async {
        var backoff = ListenBackoff()
        var first = true
        while !Task.isCancelled {
            do {
                let connection = try await PostgresDedicatedConnection.connect(location, password: password, logger: logger)
                defer { Task { try? await connection.close() } }
                try await connection.listen(on: Self.channel) { notifications in
                    if !first { continuation.yield(.gap) }
                    first = false
                    backoff.reset()
                    for try await notification in notifications { continuation.yield(.payload(notification.payload)) }
                }
            } catch {
                if Task.isCancelled { break }
                logger.warning("cluster signal connection lost: \(PostgresStore.describe(error)); reconnecting")
            }
            first = false
            try? await Task.sleep(for: .milliseconds(backoff.next()))
        }
        continuation.finish()
    }
}

/// Reconnection delays: 100 ms doubling to 5 s, with up to 50 % jitter so nodes do not reconnect in step.
struct ListenBackoff {
    private var attempt = 0

    mutating func reset() { attempt = 0 }

    mutating func next() -> Int {
        let base = min(5_000, 100 << min(attempt, 6))
        attempt += 1
        return base / 2 + Int.random(in: 0...(base / 2))
    }
}

extension PostgresStore {
    /// Sends `payload` to every listener on `PostgresListener.channel` (on commit: here at once).
    public func notify(_ payload: String) async throws {
        try await read { connection in
            for try await _ in try await connection.query("SELECT pg_notify(\(PostgresListener.channel), \(payload))", logger: logger) {}
        }
    }
}

/// The right to run the cluster-wide timers: a session-level advisory lock on a dedicated
/// connection. PostgreSQL releases it when that connection ends (a node that died or lost the
/// database), so another node takes over at its next attempt.
public actor PostgresTimerLease {
    /// The advisory lock key (an arbitrary constant of this application).
    static let key: Int64 = 0x6775_7275_7469_6d72

    private let location: PostgresLocation
    private let password: String?
    private let logger: Logger
    private var connection: PostgresConnection?
    private var held = false

    public init(location: PostgresLocation, password: String?, logger: Logger) {
        self.location = location
        self.password = password
        self.logger = logger
    }

    /// The database's clock if this node holds the lease (taking it when free), else nil.
    public func lead() async -> Date? {
        do {
            let connection = try await currentConnection()
            if !held {
                for try await taken in try await connection.query("SELECT pg_try_advisory_lock(\(Self.key))", logger: logger).decode(Bool.self) {
                    held = taken
                }
            }
            guard held else { return nil }
            var now: Double?
            let clock = "SELECT EXTRACT(EPOCH FROM clock_timestamp())::double precision"
            for try await seconds in try await connection.query(PostgresQuery(unsafeSQL: clock), logger: logger).decode(Double.self) {
                now = seconds
            }
            return now.map { Date(timeIntervalSince1970: $0) }
        } catch {
            // The lock went with the connection.
            held = false
            let lost = connection
            connection = nil
            try? await lost?.close()
            return nil
        }
    }

    /// Gives the lease up (a node stopping): unlocked at once (a closing connection's lock is
    /// freed only once its backend ends), then the connection is closed. Call it before the
    /// lease is dropped: a connection must be closed before it is released.
    public func release() async {
        guard let open = connection else { return }
        connection = nil
        if held {
            held = false
            _ = try? await open.query("SELECT pg_advisory_unlock(\(Self.key))", logger: logger).decode(Bool.self).reduce(true) { $0 && $1 }
        }
        try? await open.close()
    }

    private func currentConnection() async throws -> PostgresConnection {
        if let connection, !connection.isClosed { return connection }
        held = false
        let fresh = try await PostgresDedicatedConnection.connect(location, password: password, logger: logger)
        connection = fresh
        return fresh
    }
}
