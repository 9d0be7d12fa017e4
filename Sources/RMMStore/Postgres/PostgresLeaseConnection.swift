import Logging
import PostgresNIO

/// The node lease's own connection, outside the pool. A renewal queued in the pool would wait
/// behind a burst of the node's own writes (a fan-out, an enrollment wave); unanswered for a few
/// seconds, it would make the node take a busy database for an absent one and refuse its work. On
/// a connection of its own, a renewal that goes unanswered says something about the database.
actor PostgresLeaseConnection {
    /// The connection's `application_name`.
    static let applicationName = "gururmm node lease"
    private let location: PostgresLocation
    private let password: String?
    private let logger: Logger
    private var connection: PostgresConnection?
    /// Set by `shutDown`: no connection is kept from then on.
    private var isShutDown = false

    init(location: PostgresLocation, password: String?, logger: Logger) {
        self.location = location
        self.password = password
        self.logger = logger
    }

    /// Runs `body` on the connection, connecting first if there is none; a failure closes it, so
    /// the next call starts on a fresh one.
    func run<T: Sendable>(_ body: @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let current = try await open()
        do {
            return try await body(current)
        } catch {
            await close(current)
            throw error
        }
    }

    /// Closes the connection (one that may hang: a query in flight on it fails at once).
    func drop() async {
        guard let current = connection else { return }
        await close(current)
    }

    /// Closes the connection for good (the store closes): one still being opened is closed as it
    /// comes, never kept open past the store.
    func shutDown() async {
        isShutDown = true
        await drop()
    }

    private func open() async throws -> PostgresConnection {
        if let connection, !connection.isClosed { return connection }
        let fresh = try await PostgresDedicatedConnection.connect(location, password: password, logger: logger, purpose: Self.applicationName)
        if isShutDown {
            try? await fresh.close()
            throw StoreError.unavailable("the store is closed")
        }
        // Another call may have connected while this one waited: keep one.
        if let connection, !connection.isClosed {
            try? await fresh.close()
            return connection
        }
        connection = fresh
        return fresh
    }

    private func close(_ closing: PostgresConnection) async {
        if connection === closing { connection = nil }
        try? await closing.close()
    }
}
