import PostgresNIO

/// The text of a statement the store runs on every command's path (a move to `sent`, a report),
/// prepared once per connection and from then on only bound and run.
///
/// Why: an unprepared statement is parsed and planned at every call. For the store's CTE
/// statements that planning was a third of PostgreSQL's time per command in a fan-out
/// (`gururmm bench --cluster` reports it per statement).
protocol PostgresPreparedSQL {
    /// The statement, its values as `$1…$n` with explicit casts (a NULL bound first must not
    /// leave a parameter's type to chance).
    static var sql: String { get }
}

/// One run of the prepared statement `SQL` with `bindings` in the order of its placeholders;
/// rows come back undecoded, for the store's own defensive readers.
struct PostgresPrepared<SQL: PostgresPreparedSQL>: PostgresPreparedStatement {
    typealias Row = PostgresRow

    static var name: String { "gururmm." + String(describing: SQL.self) }
    static var sql: String { SQL.sql }

    let bindings: PostgresBindings

    func makeBindings() -> PostgresBindings { bindings }
    func decodeRow(_ row: PostgresRow) -> PostgresRow { row }
}

extension PostgresConnection {
    /// Runs the prepared statement `SQL` (preparing it on this connection the first time).
    ///
    /// PostgresNIO remembers a failed preparation and answers every later use of that statement
    /// on the connection with the same error, never preparing it again. So a transient failure
    /// (a Parse that met `statement_timeout` queued behind another node's migration, a cancel)
    /// closes the connection, and the pool replaces it, rather than leave the statement broken on
    /// it for the life of the process.
    func run<SQL: PostgresPreparedSQL>(_: SQL.Type, _ bindings: PostgresBindings, logger: Logger) async throws -> AsyncThrowingMapSequence<PostgresRowSequence, PostgresRow> {
        do {
            return try await execute(PostgresPrepared<SQL>(bindings: bindings), logger: logger)
        } catch {
            if let state = PostgresStore.sqlState(error), PostgresStore.isTransient(sqlState: state) {
                try? await close()
            }
            throw error
        }
    }
}
