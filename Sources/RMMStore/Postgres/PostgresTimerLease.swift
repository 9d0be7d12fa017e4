import Foundation
import Logging
import PostgresNIO
import RMMProtocol

/// The right to run the cluster-wide timers: a session-level advisory lock on a dedicated
/// connection. PostgreSQL releases it when that connection ends (a node that died or lost the
/// database), so another node takes over at its next attempt.
public actor PostgresTimerLease {
    /// The lease connection's `application_name`.
    static let applicationName = "gururmm timer lease"
    /// The advisory lock key (an arbitrary constant of this application).
    static let key: Int64 = 0x6775_7275_7469_6d72

    private let location: PostgresLocation
    private let password: String?
    private let logger: Logger
    private var connection: PostgresConnection?
    private var held = false
    /// How long one `lead` waits for the database (connecting included).
    private let answerWithin: Duration

    public init(location: PostgresLocation, password: String?, logger: Logger) {
        self.init(location: location, password: password, logger: logger, answerWithin: PostgresCallDeadline.Limits.standard.answer)
    }

    /// `answerWithin`: see `lead` (tests shorten it).
    init(location: PostgresLocation, password: String?, logger: Logger, answerWithin: Duration) {
        self.location = location
        self.password = password
        self.logger = logger
        self.answerWithin = answerWithin
    }

    /// The database's clock if this node holds the lease (taking it when free), else nil. Nil too
    /// when the database does not answer within `PostgresCallDeadline`'s answer limit: the
    /// connection is then given up (a query on it may never end, and the sweep that asks must not
    /// wait on it), and the lock goes with it once PostgreSQL ends its backend.
    public func lead() async -> Date? {
        switch await firstAnswer(before: .now + answerWithin, late: Attempt.unanswered, { [self] in await attempt() }) {
        case .answered(let now):
            return now
        case .unanswered:
            held = false
            if let lost = connection {
                connection = nil
                Task { try? await lost.close() }
            }
            return nil
        }
    }

    private enum Attempt: Sendable {
        case answered(Date?)
        case unanswered
    }

    /// One try at the lease on the current connection. One given up on (`lead`) may end late, or
    /// never: it then changes nothing, since a newer connection has replaced its own.
    private func attempt() async -> Attempt {
        var used: PostgresConnection?
        do {
            let connection = try await currentConnection()
            used = connection
            if !held {
                var taken = false
                for try await answer in try await connection.query("SELECT pg_try_advisory_lock(\(Self.key))", logger: logger).decode(Bool.self) {
                    taken = answer
                }
                guard connection === self.connection else { return .answered(nil) }
                held = taken
            }
            guard held else { return .answered(nil) }
            var now: Double?
            let clock = "SELECT EXTRACT(EPOCH FROM clock_timestamp())::double precision"
            for try await seconds in try await connection.query(PostgresQuery(unsafeSQL: clock), logger: logger).decode(Double.self) {
                now = seconds
            }
            return .answered(now.map { Date(timeIntervalSince1970: $0) })
        } catch {
            // The lock went with the connection.
            if let used, used === connection {
                held = false
                connection = nil
                try? await used.close()
            }
            return .answered(nil)
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
        let fresh = try await PostgresDedicatedConnection.connect(location, password: password, logger: logger, purpose: Self.applicationName)
        connection = fresh
        return fresh
    }
}
