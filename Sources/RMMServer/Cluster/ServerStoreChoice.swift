import Foundation
import Logging
import RMMStore
import ServiceLifecycle

/// Which store a server runs on.
public enum ServerStoreChoice: Sendable, Equatable {
    /// `DATA_DIR/gururmm.sqlite`: a single node.
    case sqlite
    /// A PostgreSQL database that several nodes share, by `postgres://` URL; its password comes
    /// from `passwordFile` or `GURURMM_STORE_PASSWORD`, never the URL. `connections`: the agents'
    /// pool's width (`--store-connections`, in `connectionRange`).
    case postgres(url: String, passwordFile: String?, connections: Int = ServerStoreChoice.defaultConnections)

    /// Eight pooled connections for the agents' work, beside the operator API's own
    /// (`PostgresStore.operatorConnections`), the two leases' and LISTEN's. Wider pools let
    /// PostgreSQL flush more commits together, but on one 2-core box 16 per node helped one node
    /// and hurt three (BENCHMARKS.md, "every cluster phase"): the measured default until a
    /// deployment's own database is measured.
    public static let defaultConnections = 8

    /// The operator API's own pool beside the agents' (`StoreLane.operator`).
    public static var operatorConnections: Int { PostgresStore.operatorConnections }

    /// The widths `--store-connections` takes: below 2 one slow call stalls every agent; above 64
    /// a few nodes exhaust PostgreSQL's default 100 connections.
    public static let connectionRange = 2...64

    /// Why `connections` is not a width `--store-connections` takes; nil when it is.
    public static func connectionsProblem(_ connections: Int) -> String? {
        guard !connectionRange.contains(connections) else { return nil }
        return "--store-connections must be \(connectionRange.lowerBound)...\(connectionRange.upperBound) (got \(connections))"
    }
}

/// An open store and what the server needs to know about its kind.
struct OpenedStore {
    let store: any Store
    /// Set for a store several nodes share: the server then takes a lease on its name.
    let shared: Bool
    /// How an operator deletes one settings row by hand, given the SQL.
    let manualSQL: @Sendable (String) -> String
    /// Closes it once every service has returned.
    let close: @Sendable () -> Void
    /// How this node hears of the other nodes' changes (`LocalSignals` alone).
    var signals: any ClusterSignals = LocalSignals()
    /// Who runs the cluster-wide timers (`SoleTimerLeader` alone).
    var leadership: any TimerLeadership = SoleTimerLeader()
    /// Services the store's cluster side needs running (the timer lease, released at shutdown).
    var services: [any Service] = []
    /// How long a long-poll waits for a bump before it reads again (`ChangeFeed.maximumWait`).
    var maximumFeedWait: Duration?

    /// Opens the store `options` names; a URL, password or database that cannot be used is a
    /// `StartupError` saying which and why.
    static func open(_ options: ServerOptions, data: DataDirectory, environment: [String: String], logger: Logger) async throws -> OpenedStore {
        switch options.store {
        case .sqlite:
            try data.prepareDatabaseFiles()
            let store = try SQLiteStore(path: data.databasePath)
            if case .failed(let why) = store.walPreallocation {
                logger.warning("the write-ahead log was not preallocated (\(why)); commits grow it until its first checkpoint, which makes each slower")
            }
            let path = data.databasePath
            return OpenedStore(store: store, shared: false, manualSQL: { "sqlite3 \(path) \"\($0)\"" }, close: {})
        case .postgres(let url, let passwordFile, let connections):
            let location: PostgresLocation
            let password: String?
            do {
                location = try PostgresLocation(parsing: url)
                password = try PostgresLocation.password(environment: environment, file: passwordFile)
            } catch {
                throw StartupError("--store: \(error)")
            }
            if let problem = ServerStoreChoice.connectionsProblem(connections) { throw StartupError(problem) }
            let store: PostgresStore
            do {
                store = try await PostgresStore.open(location, password: password, logger: logger, connections: connections)
            } catch {
                throw StartupError("cannot use the store: \(error)")
            }
            let shown = "\(location)"
            var opened = OpenedStore(store: store, shared: true, manualSQL: { "psql against \(shown): \($0)" }, close: { store.close() })
            opened.signals = PostgresSignals(store: store, listener: PostgresListener(location: location, password: password, logger: logger), logger: logger)
            let lease = PostgresTimerLease(location: location, password: password, logger: logger)
            opened.leadership = PostgresTimerLeadership(lease: lease)
            opened.services = [TimerLeaseService(lease: lease)]
            opened.maximumFeedWait = .milliseconds(250)
            return opened
        }
    }
}

/// Holds the timer lease's connection for the life of the node and releases the lock at the end,
/// so another node takes the timers at once rather than when the connection times out.
struct TimerLeaseService: Service, CustomStringConvertible {
    var description: String { "timer lease" }
    let lease: PostgresTimerLease

    func run() async throws {
        // Sleeps until the group stops it (graceful shutdown or cancellation), then releases.
        try? await gracefulShutdown()
        await lease.release()
    }
}
