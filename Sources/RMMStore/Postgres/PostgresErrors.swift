import PostgresNIO

extension PostgresStore {
    /// SQLSTATE of a unique or primary key violation.
    static let uniqueViolation = "23505"
    /// SQLSTATE of a foreign key violation.
    static let foreignKeyViolation = "23503"

    /// The SQLSTATE of a server error inside `error` (also inside a transaction's error), if any.
    static func sqlState(_ error: any Error) -> String? {
        if let transaction = error as? PostgresTransactionError {
            for inner in [transaction.closureError, transaction.beginError, transaction.commitError].compactMap({ $0 }) {
                if let state = sqlState(inner) { return state }
            }
            return nil
        }
        guard let error = error as? PSQLError, error.code == .server else { return nil }
        return error.serverInfo?[.sqlState]
    }

    /// `error` as the store reports it: its own errors unchanged, a lost or refused connection as
    /// `unavailable` (which the API answers with 503), anything else the server said as it said it.
    ///
    /// A commit whose answer was lost with the connection leaves its outcome unknown; it is
    /// reported as `unavailable` too, and every writer that can meet it is idempotent on retry
    /// (an agent's reports are acknowledged only after their write returned, and resent otherwise).
    static func storeError(_ error: any Error) -> any Error {
        if error is StoreError { return error }
        if let transaction = error as? PostgresTransactionError {
            if let inner = transaction.closureError ?? transaction.beginError ?? transaction.commitError {
                return storeError(inner)
            }
            return StoreError.unavailable("the transaction failed without a reason")
        }
        // The pool's own error type is in a module PostgresNIO does not export; its errors all
        // mean no connection could be had (closed pool, too many waiters, a database that keeps refusing).
        if String(reflecting: type(of: error)).contains("ConnectionPoolError") {
            return StoreError.unavailable("no database connection: \(error)")
        }
        guard let error = error as? PSQLError else { return error }
        switch error.code {
        case .server:
            let state = error.serverInfo?[.sqlState] ?? "?"
            let message = error.serverInfo?[.message] ?? "no message"
            if Self.isTransient(sqlState: state) {
                return StoreError.unavailable("PostgreSQL: \(message) (SQLSTATE \(state))")
            }
            return StoreError.corrupt("PostgreSQL refused a statement: \(message) (SQLSTATE \(state))")
        default:
            return StoreError.unavailable(describe(error))
        }
    }

    /// Whether a server error says "not now" rather than "not this": the same call may succeed
    /// when tried again, so it is `unavailable` (retried; an agent's reports stay unacknowledged)
    /// and never `corrupt` (which drops the report it was about). Class 08 (connection), 57P
    /// (shutdown, restart), 53 (resources), 40 (serialization failure, deadlock), 25006 (a
    /// read-only transaction: a primary demoted by a failover), 57014 (statement timeout), 55P03
    /// (lock not available), 55006 (object in use).
    static func isTransient(sqlState state: String) -> Bool {
        ["08", "57P", "53", "40"].contains { state.hasPrefix($0) } || ["25006", "57014", "55P03", "55006"].contains(state)
    }

    /// What went wrong, in one line: a server's message and SQLSTATE, or the connection's code and cause.
    static func describe(_ error: any Error) -> String {
        guard let error = error as? PSQLError else { return "\(error)" }
        if let message = error.serverInfo?[.message] {
            return "\(message) (SQLSTATE \(error.serverInfo?[.sqlState] ?? "?"))"
        }
        if let underlying = error.underlying {
            return "\(error.code): \(underlying)"
        }
        return "\(error.code)"
    }
}
