import Foundation
import Logging
import NIOSSL
import PostgresNIO
import Synchronization

/// The PostgreSQL implementation of every `Store` role, through PostgresNIO: the store several
/// server nodes share.
///
/// Durability: every mutating method runs in one transaction and returns only after PostgreSQL
/// acknowledged its commit (with the server's `synchronous_commit`, on by default, that is after
/// the WAL reached the disk). Atomicity is PostgreSQL's: a method that fails changed nothing.
///
/// Dates are `DOUBLE PRECISION` seconds since 2001-01-01 UTC, as in `SQLiteStore`, so a stored
/// date reads back bit-for-bit equal to the one written and both backends pass the same tests.
///
/// Change versions (`commands.version`, `command_output.version`): see `PostgresSchema`.
public final class PostgresStore: Store, CommitTimedStore {
    /// The agents' connection pool (`StoreLane.agents`: everything but the operator's calls); `runner` runs it.
    let client: PostgresClient
    /// The operator API's own pool (`StoreLane.operator`), `operatorConnections` wide: an agent
    /// storm queues thousands of calls in `client`'s, and an operator's must not wait behind them.
    let operatorClient: PostgresClient
    /// Where the store is, without secrets.
    public let location: PostgresLocation
    let logger: Logger
    /// Whether the database is away, as this node's calls found it (see `PostgresReachability`).
    let reachability: PostgresReachability
    /// Where lease renewals go (not the pool: see `PostgresLeaseConnection`).
    let leaseConnection: PostgresLeaseConnection
    /// How long a call may wait for a connection and for the database's answer (`bounded`).
    let callLimits: PostgresCallDeadline.Limits
    /// Where agents' reports queue to share transactions (`PostgresStore+ReportBatches`).
    let reportWriter: PostgresGroupWriter<AgentReports, [ReportEffect]>
    /// Where cluster signals queue to share a NOTIFY round trip (`notify`).
    let signalWriter = PostgresGroupWriter<String, Void>(lanes: 1, maxJobs: 256, maxBytes: 512 << 10)
    /// Each committed transaction's duration goes here (the server's metrics).
    let timing = CommitTiming(backend: .postgresql)
    /// A probe of a database found away runs (`probeSoon`).
    private let probing = Atomic(false)
    private let runner: Task<Void, Never>

    /// Connects, and brings the schema up to date under the migration lock (`PostgresSchema`).
    /// Throws `StoreError.unavailable` at once when the database cannot be reached, saying where
    /// it looked and what the connection attempt met.
    /// `connections` is the agents' pool's width; the operator's pool adds `operatorConnections`.
    public static func open(_ location: PostgresLocation, password: String?, logger: Logger, connections: Int = 8) async throws -> PostgresStore {
        try await open(location, password: password, logger: logger, connections: connections, callLimits: .standard)
    }

    /// `open`, with the limits of every call (`PostgresCallDeadline`; tests shorten them).
    static func open(_ location: PostgresLocation, password: String?, logger: Logger, connections: Int = 8,
                     callLimits: PostgresCallDeadline.Limits) async throws -> PostgresStore {
        let tls = try tlsSettings(location)
        try await probe(location, password: password, logger: logger)
        var configuration: PostgresClient.Configuration
        switch location.endpoint {
        case .unixSocket(let path):
            configuration = .init(unixSocketPath: path, username: location.user, password: password, database: location.database)
        case .tcp(let host, let port):
            configuration = .init(host: host, port: port, username: location.user, password: password, database: location.database,
                                  tls: tls.map { .require($0) } ?? .disable)
        }
        configuration.options.maximumConnections = max(1, connections)
        configuration.options.minimumConnections = 1
        // The prepared statements (`PostgresPreparedSQL`) exist to skip planning; left to choose,
        // PostgreSQL keeps planning those taking an array (`id = ANY($1)`) at every call, as the
        // size of the array changes its estimates. Their generic plans are index lookups. The
        // setting also reaches every other parameterised statement the pool sends (PostgresNIO
        // sends each as an unnamed prepared statement): their plans, too, are made without the
        // values. The full-size benchmark ran with it; the other statements' plans are not audited.
        // A statement blocked past `statementTimeout` (behind another transaction's row locks on
        // a loaded node) is ended by PostgreSQL itself: its transaction rolls back and frees its
        // locks, and the caller gets a definite "not done" before the call's own deadline, which
        // can only walk away from the connection (a backend waiting for a lock does not notice
        // its client left, and would hold its locks on until the wait ended).
        configuration.options.additionalStartupParameters = [
            ("plan_cache_mode", "force_generic_plan"),
            ("statement_timeout", "\(max(1, Int(callLimits.statementTimeout / .milliseconds(1))))"),
            // A node that vanished in the middle of a transaction (a frozen host, a cut link: no
            // reset ever reaches PostgreSQL) would keep that transaction's row locks until TCP
            // gave up, hours later, and every agent whose command rows it held would wait behind
            // it. No transaction of the store's idles that long between statements: past the call
            // deadline its caller has walked away and closed the connection anyway.
            ("idle_in_transaction_session_timeout", "\(Self.idleInTransactionTimeoutMilliseconds)"),
        ]
        // The same connections for the operator's lane, fewer of them, opened when first needed
        // (an idle node holds none; a connection takes milliseconds to open); each lane named in
        // `pg_stat_activity.application_name`.
        var operatorConfiguration = configuration
        operatorConfiguration.options.maximumConnections = operatorConnections
        operatorConfiguration.options.minimumConnections = 0
        operatorConfiguration.options.additionalStartupParameters.append(("application_name", "gururmm operator"))
        configuration.options.additionalStartupParameters.append(("application_name", "gururmm agents"))
        let store = PostgresStore(client: PostgresClient(configuration: configuration, backgroundLogger: logger),
                                  operatorClient: PostgresClient(configuration: operatorConfiguration, backgroundLogger: logger),
                                  location: location, password: password, logger: logger, callLimits: callLimits,
                                  reportLanes: reportLanes(connections: connections))
        do {
            try await PostgresSchema.migrate(store)
        } catch {
            store.close()
            throw error
        }
        return store
    }

    /// How long PostgreSQL lets one of the store's connections sit idle inside a transaction
    /// before it ends the session (and frees its locks): longer than any call's deadline.
    static let idleInTransactionTimeoutMilliseconds = 45_000

    /// The width of the operator's pool: its calls are a few people's, each short.
    public static let operatorConnections = 2

    private init(client: PostgresClient, operatorClient: PostgresClient, location: PostgresLocation, password: String?, logger: Logger,
                 callLimits: PostgresCallDeadline.Limits, reportLanes: Int) {
        self.client = client
        self.operatorClient = operatorClient
        reportWriter = PostgresGroupWriter(lanes: reportLanes)
        self.callLimits = callLimits
        self.location = location
        self.logger = logger
        reachability = PostgresReachability(database: "PostgreSQL at \(location)")
        leaseConnection = PostgresLeaseConnection(location: location, password: password, logger: logger)
        runner = Task {
            await withDiscardingTaskGroup { group in
                group.addTask { await client.run() }
                group.addTask { await operatorClient.run() }
            }
        }
    }

    deinit { runner.cancel() }

    /// Closes both pools' connections. The store is not usable afterwards.
    public func close() {
        runner.cancel()
        let leaseConnection = self.leaseConnection
        Task { await leaseConnection.shutDown() }
    }

    /// The TLS client settings `location` asks for; nil for none.
    static func tlsSettings(_ location: PostgresLocation) throws -> TLSConfiguration? {
        var settings = TLSConfiguration.makeClientConfiguration()
        switch location.tls {
        case .disable:
            return nil
        case .require:
            settings.certificateVerification = .none
        case .verifyFull:
            settings.certificateVerification = .fullVerification
            if let roots = location.rootCertificatePath {
                settings.trustRoots = .file(roots)
            }
        }
        return settings
    }

    /// One connection made and closed outside the pool: the pool retries a refused connection
    /// with backoff for about a minute before it gives up, and says less about why.
    private static func probe(_ location: PostgresLocation, password: String?, logger: Logger) async throws {
        do {
            let connection = try await PostgresDedicatedConnection.connect(location, password: password, logger: logger, purpose: "gururmm probe")
            try await connection.close()
        } catch {
            throw StoreError.unavailable("cannot open \(location): \(describe(error))")
        }
    }

    /// Runs `body` on a connection of the current `StoreLane`'s pool outside a transaction (each
    /// statement its own snapshot), under `callLimits` (`bounded`); `unbounded` only for calls that may rightly take long
    /// (migrations, which may also wait for another node's). `body` runs in a task of its own, so
    /// it escapes; it captures `self` implicitly, as `Task`'s operation does, so the role files
    /// name the store's members without `self.`.
    func read<T: Sendable>(unbounded: Bool = false, @_implicitSelfCapture _ body: sending @escaping (PostgresConnection) async throws -> T) async throws -> T {
        try reachability.admit()
        let client = laneClient
        let logger = self.logger
        return try await bounded(deadline(unbounded: unbounded)) { watch in
            try await client.withConnection { connection in
                try watch.begin(on: connection)
                guard unbounded else { return try await body(connection) }
                // A migration may rightly run long: no statement timeout on this connection
                // until it is done (RESET restores the pool's, given at connect).
                _ = try await connection.query("SET statement_timeout = 0", logger: logger)
                do {
                    let value = try await body(connection)
                    _ = try await connection.query("RESET statement_timeout", logger: logger)
                    return value
                } catch {
                    _ = try? await connection.query("RESET statement_timeout", logger: logger)
                    throw error
                }
            }
        }
    }

    /// Runs `body` in one transaction and returns once it committed; rolls back if `body` throws.
    /// Under `callLimits` from BEGIN to COMMIT (`bounded`): past them the caller is told
    /// `unavailable` though the transaction may still commit.
    func write<T: Sendable>(unbounded: Bool = false, @_implicitSelfCapture _ body: sending @escaping (PostgresConnection) async throws -> T) async throws -> T {
        try reachability.admit()
        let client = laneClient
        let logger = self.logger
        let timing = self.timing
        return try await bounded(deadline(unbounded: unbounded)) { watch in
            try await client.withConnection { connection in
                try watch.begin(on: connection)
                let start = ContinuousClock.now
                let value = try await connection.withTransaction(logger: logger) { connection in
                    if unbounded {
                        _ = try await connection.query("SET LOCAL statement_timeout = 0", logger: logger)
                        _ = try await connection.query("SET LOCAL idle_in_transaction_session_timeout = 0", logger: logger)
                    }
                    return try await body(connection)
                }
                // Only a transaction that committed is timed: a rolled-back one throws past this.
                timing.committed(since: start)
                return value
            }
        }
    }

    public func observeCommits(_ observer: any StoreCommitObserver) {
        timing.set(observer)
    }

    /// Runs `body`, a single statement that commits alone (no BEGIN or COMMIT round trips), on a
    /// pooled connection: for writes whose every check and change fits in one statement. Bounded
    /// as `read`: past the deadline, the statement may still have committed.
    func writeAlone<T: Sendable>(@_implicitSelfCapture _ body: sending @escaping (PostgresConnection) async throws -> T) async throws -> T {
        let timing = self.timing
        return try await read { connection in
            let start = ContinuousClock.now
            let value = try await body(connection)
            // The statement committed as it returned.
            timing.committed(since: start)
            return value
        }
    }

    /// The pool of the current task's `StoreLane`.
    private var laneClient: PostgresClient {
        StoreLane.current == .operator ? operatorClient : client
    }

    /// A pooled call's deadline, starting now; an unbounded one never passes.
    private func deadline(unbounded: Bool) -> PostgresCallDeadline {
        // A year: "never" for a call, and still an instant every clock and sleep can take.
        let forever = Duration.seconds(365 * 86_400)
        let limits = unbounded ? PostgresCallDeadline.Limits(answer: forever, connection: forever, recheck: callLimits.recheck) : callLimits
        return PostgresCallDeadline(limits: limits, startedAt: .now)
    }

    /// `error` as the store reports it; a lost or refused connection marks the database away
    /// (not a call its caller cancelled: that says nothing about the database) and, from a pooled
    /// call, asks at once whether it answers (one pooled connection dropped, say by
    /// `pg_terminate_backend`, must not keep the node refusing work until its next renewal).
    func noted(_ error: any Error, probe: Bool = true) -> any Error {
        let mapped = Self.storeError(error)
        if Self.isConnectionLoss(error), !Task.isCancelled, case StoreError.unavailable(let why)? = mapped as? StoreError {
            reachability.failed(why)
            if probe { probeSoon() }
        }
        return mapped
    }

    /// One `SELECT 1` on the lease's connection (at most one at a time): its answer ends the
    /// outage; its failure leaves it to the renewals (once a second while they fail).
    func probeSoon() {
        guard probing.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged else { return }
        let logger = self.logger
        Task {
            defer { probing.store(false, ordering: .relaxed) }
            _ = try? await onLeaseConnection { connection in
                for try await _ in try await connection.query("SELECT 1", logger: logger).decode(Int.self) {}
            }
        }
    }

    /// A lease renewal went unanswered past its deadline: the database counts as away until a
    /// call succeeds (calls then fail at once rather than wait in the pool's queue).
    public func databaseUnanswered(_ why: String) {
        reachability.failed(why)
        // The renewal's connection may hang (a peer that vanished without a reset): start afresh.
        let leaseConnection = self.leaseConnection
        Task { await leaseConnection.drop() }
    }

    /// Runs `body` (one statement: it commits alone) on the lease's own connection, also while
    /// the database counts as away: the renewal is the probe that finds it back. Bounded by the
    /// answer's limit from the start (connecting included); past it the connection is dropped.
    func onLeaseConnection<T: Sendable>(@_implicitSelfCapture _ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let leaseConnection = self.leaseConnection
        return try await bounded(.answering(limits: callLimits, from: .now), onLeaseConnection: true) { watch in
            try await leaseConnection.run { connection in
                try watch.begin(on: connection)
                return try await body(connection)
            }
        }
    }
}
