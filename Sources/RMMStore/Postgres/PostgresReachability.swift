import Foundation
import PostgresNIO
import Synchronization

/// Whether the database is away, as this node's own calls found it: the first call that meets a
/// lost or refused connection, a call past its deadline (`PostgresCallDeadline`) or a lease
/// renewal that goes unanswered marks it away, and until a call succeeds again every call fails at
/// once with `StoreError.unavailable`, saying since when and why, instead of waiting in the pool's
/// queue (which holds a request for up to a minute while it cannot connect; calls already in it
/// fail within a second). The lease renewal and the store's probe are the calls let through while
/// away: their success (or any call queued before that ends well) brings the node back.
final class PostgresReachability: Sendable {
    /// The decision itself, pure: what was seen, and when.
    struct State: Equatable {
        /// Since when, and the latest reason.
        private(set) var away: (since: Date, why: String)?

        static func == (lhs: State, rhs: State) -> Bool {
            lhs.away?.since == rhs.away?.since && lhs.away?.why == rhs.away?.why
        }

        /// A call found the database unreachable at `now`.
        mutating func failed(_ why: String, now: Date) {
            away = (away?.since ?? now, why)
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
    private let awayFlag = Atomic(false)
    /// The database as named in reasons (no secrets).
    let database: String

    init(database: String) {
        self.database = database
    }

    /// Whether the database counts as away now.
    var isAway: Bool { awayFlag.load(ordering: .relaxed) }

    /// Throws at once while the database is away.
    func admit(now: Date = Date()) throws {
        guard awayFlag.load(ordering: .relaxed) else { return }
        if let refusal = state.withLock({ $0.refusal(at: now, database: database) }) { throw refusal }
    }

    func answered() {
        guard awayFlag.load(ordering: .relaxed) else { return }
        state.withLock { state in
            state.answered()
            awayFlag.store(false, ordering: .relaxed)
        }
    }

    func failed(_ why: String, now: Date = Date()) {
        state.withLock { state in
            state.failed(why, now: now)
            awayFlag.store(true, ordering: .relaxed)
        }
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
