/// The tables `SQLiteToPostgres` copies, in an order that satisfies their foreign keys, and how
/// each column's value is carried over.
enum MigratedTables {
    /// How one column's value goes from SQLite to PostgreSQL.
    enum Kind {
        case text, double, integer, boolean, bytes
        /// SQLite's rowid: the creation order PostgreSQL's `seq` column keeps.
        case rowid
        /// The migrating transaction's version (`PostgresSchema.writerVersion`): SQLite's
        /// versions come from a local counter and would sort before every later change.
        case writerVersion
    }

    struct Table {
        let name: String
        let columns: [(name: String, kind: Kind)]
        /// The identity column whose sequence must continue after the copied rows.
        let identity: String?
        /// Rows per INSERT: PostgreSQL takes at most 65,535 parameters a statement, and a chunk of
        /// output rows is kept to a few megabytes.
        let rowsPerInsert: Int
    }

    static let all: [Table] = [
        Table(name: "enrollment_tokens", columns: [
            ("id", .text), ("hash", .text), ("created_at", .double), ("expires_at", .double), ("uses_left", .integer), ("revoked_at", .double),
        ], identity: nil, rowsPerInsert: 1000),
        Table(name: "api_tokens", columns: [
            ("id", .text), ("name", .text), ("role", .text), ("hash", .text), ("created_at", .double), ("revoked_at", .double),
        ], identity: nil, rowsPerInsert: 1000),
        Table(name: "settings", columns: [("key", .text), ("value", .text), ("version", .integer)], identity: nil, rowsPerInsert: 1000),
        Table(name: "agents", columns: [
            ("id", .text), ("seq", .rowid), ("name", .text), ("name_key", .text), ("public_key", .text), ("hostname", .text), ("os", .text),
            ("version", .text), ("enrolled_at", .double), ("epoch", .integer), ("last_seen_at", .double), ("connected_since", .double),
            ("last_downlink_at", .double), ("disconnected_at", .double), ("config_version_applied", .integer), ("last_pong_rtt_ms", .double),
            ("metrics_json", .text), ("revoked_at", .double), ("link_diagnosis", .bytes),
            ("remote_address", .text),
        ], identity: "seq", rowsPerInsert: 500),
        Table(name: "commands", columns: [
            ("id", .text), ("seq", .rowid), ("agent_id", .text), ("batch_id", .text), ("kind", .text), ("text", .text), ("interpreter", .text),
            ("timeout_seconds", .double), ("created_at", .double), ("expires_at", .double), ("state", .text), ("reason", .text),
            ("exit_code", .integer), ("signal", .integer), ("stdout_truncated", .boolean), ("stderr_truncated", .boolean),
            ("updated_at", .double), ("created_by", .text), ("version", .writerVersion), ("cancel_requested_at", .double), ("cancel_reason", .text),
        ], identity: "seq", rowsPerInsert: 500),
        Table(name: "command_events", columns: [
            ("id", .integer), ("command_id", .text), ("state", .text), ("occurred_at", .double), ("reason", .text),
        ], identity: "id", rowsPerInsert: 1000),
        Table(name: "command_output", columns: [
            ("command_id", .text), ("stream", .text), ("byte_offset", .integer), ("data", .bytes), ("version", .writerVersion),
        ], identity: nil, rowsPerInsert: 64),
        Table(name: "audit_log", columns: [
            ("id", .integer), ("at", .double), ("actor", .text), ("role", .text), ("action", .text), ("targets", .text), ("detail", .text),
            ("remote", .text), ("token_id", .text),
        ], identity: "id", rowsPerInsert: 1000),
        Table(name: "link_verdicts", columns: [
            ("id", .integer), ("agent_id", .text), ("verdict", .text), ("source", .text), ("stage", .text), ("summary", .text),
            ("evidence", .bytes), ("first_at", .double), ("last_at", .double), ("count", .integer),
        ], identity: "id", rowsPerInsert: 500),
        // About 13 KB a row (`MetricHistoryCodec`): 64 rows keep an INSERT near a megabyte.
        Table(name: "agent_metric_history", columns: [("agent_id", .text), ("history", .bytes), ("saved_at", .double)],
              identity: nil, rowsPerInsert: 64),
    ]
}
