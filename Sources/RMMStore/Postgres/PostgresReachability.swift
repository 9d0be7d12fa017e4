import Foundation
import PostgresNIO
import Synchronization

/// Whether the database is away, as this node's own calls found it: the first call that meets a
/// lost or refused connection (or a lease renewal that goes unanswered) marks it away, and until a
/// call succeeds again every call fails at once with `StoreError.unavailable`, saying since when
/// and why, instead of waiting in the pool's queue (which holds a request for up to a minute while
/// it cannot connect). Two things find it back: the lease renewal, the one call let through while
/// away, and the store's own probe (`PostgresStore.probeUntilBack`, one `SELECT 1` a second, each
/// given up after two), so a store without a node lease recovers too; the first call that
/// succeeds (or any call queued before that ends well) ends the outage.
final class PostgresReachability: Sendable {
    /// The decision itself, pure: what was seen, and when.
    struct State: Equatable {
        /// Since when, and the latest reason.
        private(set) var away: (since: Date, why: String)?
        /// The store's probe runs (one at a time).
        private(set) var probing = false

        static func == (lhs: State, rhs: State) -> Bool {
            lhs.away?.since == rhs.away?.since && lhs.away?.why == rhs.away?.why && lhs.probing == rhs.probing
        }

        /// A call found the database unreachable at `now`. Returns true when the probe is to start.
        mutating func failed(_ why: String, now: Date) -> Bool {
            away = (away?.since ?? now, why)
            defer { probing = true }
            return !probing
        }

        /// The probe asks whether to go on: only while the database is away; false ends it.
        mutating func keepProbing() -> Bool {
            probing = away != nil
            return probing
        }

        /// A call succeeded: the database answers.
        mutating func answered() { away = nil }

        /// Why a call made at `now` is refused without trying, or nil to try it.
        func refusal(at now: Date, database: String) -> StoreError? {
            guard let away else { return nil }
            let seconds = Int(max(0, now.timeIntervalSince(away.since)))
            return .unavailable("\(database) has not answered for \(seconds) s (\(away.why)); the node retries by itself")
        }
    }

    private let state = Mutex(State())
    /// Mirrors `state.away != nil`, so a call on a reachable database takes no lock.
    private let isAway = Atomic(false)
    /// The database as named in reasons (no secrets).
    let database: String

    init(database: String) {
        self.database = database
    }

    /// Throws at once while the database is away.
    func admit(now: Date = Date()) throws {
        guard isAway.load(ordering: .relaxed) else { return }
        if let refusal = state.withLock({ $0.refusal(at: now, database: database) }) { throw refusal }
    }

    func answered() {
        guard isAway.load(ordering: .relaxed) else { return }
        state.withLock { state in
            state.answered()
            isAway.store(false, ordering: .relaxed)
        }
    }

    /// Returns true when the caller is to start the probe.
    func failed(_ why: String, now: Date = Date()) -> Bool {
        state.withLock { state in
            isAway.store(true, ordering: .relaxed)
            return state.failed(why, now: now)
        }
    }

    func keepProbing() -> Bool {
        state.withLock { $0.keepProbing() }
    }
}

extension PostgresStore {
    /// Whether `error` says the database could not be reached (a lost, refused or closed
    /// connection, a server shutting down), as opposed to one statement refused: only such an
    /// error marks the database away.
    static func isConnectionLoss(_ error: any Error) -> Bool {
        if let transaction = error as? PostgresTransactionError {
            return [transaction.closureError, transaction.beginError, transaction.commitError].contains { $0.map(isConnectionLoss) ?? false }
        }
        // The pool's own errors (its module is not exported) all mean no connection could be had.
        if String(reflecting: type(of: error)).contains("ConnectionPoolError") { return true }
        guard let error = error as? PSQLError else { return false }
        switch error.code {
        case .server:
            let state = error.serverInfo?[.sqlState] ?? ""
            return state.hasPrefix("08") || state.hasPrefix("57P")
        case .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .poolClosed:
            return true
        default:
            return false
        }
    }
}
