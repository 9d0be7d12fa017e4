import Logging
import PostgresNIO

/// The PostgreSQL schema and its versioned migrations.
///
/// Migrations run at start under a session advisory lock, so nodes that start together apply
/// each one once: the first takes the lock and migrates, the others wait and find nothing to do.
/// Each migration is a list of statements applied in one transaction with its row in
/// `schema_migrations`. Never edit a migration that has shipped: add a new one. A database that
/// holds a migration this build does not know was moved on by a newer gururmm, and this node
/// refuses to start on it rather than run against a schema it does not understand.
///
/// Change versions. A batch's long-polls and streams ask "what changed after version v", and must
/// never miss a change: a reader that moved its cursor past v must not later meet a new change
/// at or below v. With one writer (SQLite) a counter does that. With several nodes writing at once,
/// a sequence does not: a transaction can take version 5, another take 6 and commit first, and a
/// reader that saw 6 would skip 5 when it commits. Here a changed row's `version` is the writing
/// transaction's id (`pg_current_xact_id()`, 64-bit, never reused), and readers take only rows
/// whose version is below their snapshot's `xmin` — every transaction with a smaller id has ended
/// by then, so nothing new can appear below that horizon (`PostgresSchema.visibleHorizon`). The
/// horizon lags by the longest transaction in flight: writers keep theirs short.
enum PostgresSchema {
    /// The advisory lock key of migrations ("gururmm" in ASCII, as an integer).
    static let migrationLock: Int64 = 0x67_7572_7572_6D6D

    /// Versions below this are visible to a reader and final; use it in every "changed after" read:
    /// `version < (\(visibleHorizon))`.
    static let visibleHorizon = "pg_snapshot_xmin(pg_current_snapshot())::text::bigint"

    /// The version a writing transaction gives the rows it changes.
    static let writerVersion = "pg_current_xact_id()::text::bigint"

    /// The schema's history, oldest first.
    static let migrations: [(id: String, statements: [String])] = [
        ("v1", v1),
        ("v2-cluster", PostgresClusterSchema.statements),
        // Where the other nodes reach a node's agent port to forward a long-poll (`NodePeer`).
        ("v3-peer-url", ["ALTER TABLE nodes ADD COLUMN peer_url TEXT NOT NULL DEFAULT ''"]),
        // A cancel is stored before it is signalled, so a node's sweep finds one whose signal was lost.
        ("v4-cancel-requests", [
            "ALTER TABLE commands ADD COLUMN cancel_requested_at DOUBLE PRECISION",
            "ALTER TABLE commands ADD COLUMN cancel_reason TEXT",
        ]),
        // Web console logins, shared by every node (`ConsoleSessionStore`).
        ("v5-console-sessions", [ConsoleSessionSchema.create(double: "DOUBLE PRECISION")] + ConsoleSessionSchema.indexes),
        // The address of each agent's latest connection, for views that span the cluster (sites).
        ("v6-agent-remote-address", ["ALTER TABLE agents ADD COLUMN remote_address TEXT"]),
        // Each agent's chart points, one fixed-size blob per agent (`MetricHistoryStore`).
        ("v7-agent-metric-history", [MetricHistorySchema.create(blob: "BYTEA", double: "DOUBLE PRECISION")]),
    ]

    /// Applies the migrations this database lacks, under the migration lock.
    static func migrate(_ store: PostgresStore) async throws {
        // Unbounded: it may wait for another node's migration, and a migration may take long.
        try await store.read(unbounded: true) { connection in
            _ = try await connection.query("SELECT pg_advisory_lock(\(migrationLock))", logger: store.logger)
            do {
                try await applyMissing(connection, logger: store.logger)
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(migrationLock))", logger: store.logger)
                throw error
            }
            _ = try await connection.query("SELECT pg_advisory_unlock(\(migrationLock))", logger: store.logger)
        }
    }

    private static func applyMissing(_ connection: PostgresConnection, logger: Logger) async throws {
        _ = try await connection.query(
            "CREATE TABLE IF NOT EXISTS schema_migrations (id TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
            logger: logger
        )
        var applied = Set<String>()
        for try await id in try await connection.query("SELECT id FROM schema_migrations", logger: logger).decode(String.self) {
            applied.insert(id)
        }
        let known = Set(migrations.map(\.id))
        if let unknown = applied.subtracting(known).sorted().first {
            throw StoreError.invalid(
                "the database has schema migration \(unknown), which this gururmm does not know: a newer gururmm migrated it. Run that version (or newer) instead"
            )
        }
        for migration in migrations where !applied.contains(migration.id) {
            logger.info("applying store migration \(migration.id)")
            try await connection.withTransaction(logger: logger) { connection in
                for statement in migration.statements {
                    _ = try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                _ = try await connection.query("INSERT INTO schema_migrations (id) VALUES (\(migration.id))", logger: logger)
            }
        }
    }

    /// The first schema: `SQLiteStore`'s, in PostgreSQL's types. `seq` columns stand in for
    /// SQLite's rowid where an order of creation is paged or listed on. Text that results are
    /// ordered by is `COLLATE "C"` (byte order, as SQLite's): the database's own collation depends
    /// on where it was created, and would change the order of lists and pages.
    private static let v1: [String] = [
        """
        CREATE TABLE enrollment_tokens (
            id TEXT PRIMARY KEY,
            seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
            hash TEXT NOT NULL UNIQUE,
            created_at DOUBLE PRECISION NOT NULL,
            expires_at DOUBLE PRECISION,
            uses_left BIGINT NOT NULL CHECK (uses_left >= 0),
            revoked_at DOUBLE PRECISION
        )
        """,
        """
        CREATE TABLE agents (
            id TEXT COLLATE "C" PRIMARY KEY,
            seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
            name TEXT COLLATE "C" NOT NULL,
            name_key TEXT NOT NULL UNIQUE,
            public_key TEXT NOT NULL UNIQUE,
            hostname TEXT NOT NULL,
            os TEXT NOT NULL,
            version TEXT NOT NULL,
            enrolled_at DOUBLE PRECISION NOT NULL,
            epoch BIGINT NOT NULL DEFAULT 0,
            last_seen_at DOUBLE PRECISION,
            connected_since DOUBLE PRECISION,
            last_downlink_at DOUBLE PRECISION,
            disconnected_at DOUBLE PRECISION,
            config_version_applied BIGINT,
            last_pong_rtt_ms DOUBLE PRECISION,
            metrics_json TEXT,
            revoked_at DOUBLE PRECISION,
            link_diagnosis BYTEA
        )
        """,
        "CREATE INDEX agents_by_name_id ON agents (name, id)",
        """
        CREATE TABLE commands (
            id TEXT COLLATE "C" PRIMARY KEY,
            seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
            agent_id TEXT COLLATE "C" NOT NULL REFERENCES agents (id),
            batch_id TEXT COLLATE "C" NOT NULL,
            kind TEXT NOT NULL,
            text TEXT NOT NULL,
            interpreter TEXT,
            timeout_seconds DOUBLE PRECISION NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            expires_at DOUBLE PRECISION NOT NULL,
            state TEXT NOT NULL,
            reason TEXT,
            exit_code INTEGER,
            signal INTEGER,
            stdout_truncated BOOLEAN NOT NULL DEFAULT FALSE,
            stderr_truncated BOOLEAN NOT NULL DEFAULT FALSE,
            updated_at DOUBLE PRECISION NOT NULL,
            created_by TEXT NOT NULL,
            version BIGINT NOT NULL
        )
        """,
        "CREATE INDEX commands_by_agent_created ON commands (agent_id, created_at)",
        "CREATE INDEX commands_by_created ON commands (created_at)",
        "CREATE INDEX commands_by_batch_version ON commands (batch_id, version)",
        "CREATE INDEX commands_by_batch_seq ON commands (batch_id, seq)",
        "CREATE INDEX commands_pending_by_agent ON commands (agent_id, state) WHERE state IN ('queued', 'sent', 'delivered', 'running')",
        "CREATE INDEX commands_pending_by_expiry ON commands (state, expires_at) WHERE state IN ('queued', 'sent', 'delivered', 'running')",
        "CREATE INDEX commands_pending_by_batch ON commands (batch_id, state) WHERE state IN ('queued', 'sent', 'delivered', 'running')",
        """
        CREATE TABLE command_events (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            command_id TEXT COLLATE "C" NOT NULL REFERENCES commands (id),
            state TEXT NOT NULL,
            occurred_at DOUBLE PRECISION NOT NULL,
            reason TEXT
        )
        """,
        "CREATE INDEX command_events_by_command ON command_events (command_id, id)",
        """
        CREATE TABLE command_output (
            command_id TEXT COLLATE "C" NOT NULL REFERENCES commands (id),
            stream TEXT COLLATE "C" NOT NULL,
            byte_offset BIGINT NOT NULL,
            data BYTEA NOT NULL,
            version BIGINT NOT NULL,
            PRIMARY KEY (command_id, stream, byte_offset)
        )
        """,
        """
        CREATE TABLE api_tokens (
            id TEXT PRIMARY KEY,
            seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
            name TEXT NOT NULL,
            role TEXT NOT NULL,
            hash TEXT NOT NULL UNIQUE,
            created_at DOUBLE PRECISION NOT NULL,
            revoked_at DOUBLE PRECISION
        )
        """,
        """
        CREATE TABLE settings (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            version BIGINT NOT NULL
        )
        """,
        // Append-only: the store has no statement that updates or deletes a row here, and the
        // triggers refuse anyone else's.
        """
        CREATE TABLE audit_log (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            at DOUBLE PRECISION NOT NULL,
            actor TEXT NOT NULL,
            role TEXT NOT NULL,
            action TEXT NOT NULL,
            targets TEXT NOT NULL,
            detail TEXT NOT NULL,
            remote TEXT NOT NULL,
            token_id TEXT
        )
        """,
        """
        CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit log is append-only';
        END
        $$
        """,
        "CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
        "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()",
        """
        CREATE TABLE link_verdicts (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            agent_id TEXT COLLATE "C" NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
            verdict TEXT NOT NULL,
            source TEXT NOT NULL,
            stage TEXT NOT NULL,
            summary TEXT NOT NULL,
            evidence BYTEA NOT NULL,
            first_at DOUBLE PRECISION NOT NULL,
            last_at DOUBLE PRECISION NOT NULL,
            count BIGINT NOT NULL
        )
        """,
        "CREATE INDEX link_verdicts_by_agent ON link_verdicts (agent_id, id)",
    ]
}
