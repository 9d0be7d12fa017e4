import Foundation
import Logging
import PostgresNIO

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
