/// The `console_sessions` table, the same on both backends but for the type of its times.
/// Sessions are not copied by `SQLiteToPostgres`: they are short-lived, and operators log in again.
enum ConsoleSessionSchema {
    static func create(double: String) -> String {
        """
        CREATE TABLE console_sessions (
            id TEXT PRIMARY KEY NOT NULL,
            hash TEXT NOT NULL UNIQUE,
            token_id TEXT NOT NULL,
            csrf_secret TEXT NOT NULL,
            created_at \(double) NOT NULL,
            expires_at \(double) NOT NULL,
            idle_expires_at \(double) NOT NULL CHECK (idle_expires_at <= expires_at)
        )
        """
    }

    static let indexes = [
        "CREATE INDEX console_sessions_by_token ON console_sessions (token_id)",
        "CREATE INDEX console_sessions_by_idle_expiry ON console_sessions (idle_expires_at)",
    ]

    /// The session's columns then its token's, as the lookup selects them (`s` and `t`).
    static let lookupColumns = """
        s.id, s.token_id, s.csrf_secret, s.created_at, s.expires_at, s.idle_expires_at, \
        t.id, t.name, t.role, t.created_at, t.revoked_at
        """
}
