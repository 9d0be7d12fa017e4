import GRDB
import RMMProtocol

extension SQLiteStore {
    /// Schema history. Never edit a registered migration: add a new one.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: v1)
        }
        migrator.registerMigration("v2-link-diagnosis") { db in
            // The latest link diagnosis per agent, as the API's JSON (opaque to the store).
            try db.execute(sql: "ALTER TABLE agents ADD COLUMN link_diagnosis BLOB")
        }
        migrator.registerMigration("v3-audit") { db in
            // Append-only: the store has no statement that updates or deletes a row here.
            try db.execute(sql: """
                CREATE TABLE audit_log (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    at REAL NOT NULL,
                    actor TEXT NOT NULL,
                    role TEXT NOT NULL,
                    action TEXT NOT NULL,
                    targets TEXT NOT NULL,
                    detail TEXT NOT NULL,
                    remote TEXT NOT NULL
                );
                CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
                CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
                """)
        }
        migrator.registerMigration("v4-pending-indexes") { db in
            // The per-agent and per-expiry indexes hold only unfinished commands. They are what the
            // dispatcher, the expiry sweep and the pending limit look up, and kept to unfinished
            // work they stay small whatever the history's size (an agent-keyed index over every
            // command ever made grows with the history, and each command's insert and updates
            // land on a random page of it). v6 restates their condition.
            try db.execute(sql: """
                DROP INDEX commands_by_agent_state;
                DROP INDEX commands_by_state_expiry;
                CREATE INDEX commands_pending_by_agent ON commands(agent_id, state) WHERE state IN ('queued', 'sent', 'delivered', 'running');
                CREATE INDEX commands_pending_by_expiry ON commands(state, expires_at) WHERE state IN ('queued', 'sent', 'delivered', 'running');
                """)
        }
        migrator.registerMigration("v5-pending-by-batch") { db in
            // A batch's unfinished commands, for the long-polls that wait for a batch to finish:
            // counting them reads only what is still open (a 10,000-command batch's count used to
            // load every row of it, dozens of times a second per waiting client).
            try db.execute(sql: """
                CREATE INDEX commands_pending_by_batch ON commands(batch_id, state) WHERE state IN ('queued', 'sent', 'delivered', 'running')
                """)
        }
        migrator.registerMigration("v6-pending-indexes-without-in-list") { db in
            // The same three indexes, their condition written as comparisons: with an IN list of
            // four constants SQLite builds a temporary lookup table each time it evaluates the
            // condition — twice per index for every state change — and that made updating a
            // command four times as costly as without the indexes (23 µs instead of 6; 8.5 µs now).
            // Queries that use them repeat `pendingCondition` verbatim, which is how SQLite knows
            // a partial index applies (a test checks the plans).
            try db.execute(sql: """
                DROP INDEX commands_pending_by_agent;
                DROP INDEX commands_pending_by_expiry;
                DROP INDEX commands_pending_by_batch;
                CREATE INDEX commands_pending_by_agent ON commands(agent_id, state) WHERE \(pendingCondition);
                CREATE INDEX commands_pending_by_expiry ON commands(state, expires_at) WHERE \(pendingCondition);
                CREATE INDEX commands_pending_by_batch ON commands(batch_id, state) WHERE \(pendingCondition);
                """)
        }
        migrator.registerMigration("v7-unique-agent-names-audit-token-id") { db in
            // Agent names are unique, compared case-insensitively through `name_key`
            // (`AgentName.key`, Swift's lowercasing: SQLite's NOCASE folds only ASCII). Agents that
            // already share a name: the first enrolled keeps it, the others get "-2", "-3", …
            try db.execute(sql: "ALTER TABLE agents ADD COLUMN name_key TEXT")
            let agents = try Row.fetchAll(db, sql: "SELECT id, name FROM agents ORDER BY enrolled_at, rowid").map { row in
                (id: row["id"] as String, name: row["name"] as String)
            }
            let renamed = Dictionary(AgentName.deduplicated(agents).map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first })
            for agent in agents {
                let name = renamed[agent.id] ?? agent.name
                try db.execute(sql: "UPDATE agents SET name = ?, name_key = ? WHERE id = ?", arguments: [name, AgentName.key(name), agent.id])
            }
            try db.execute(sql: """
                DROP INDEX agents_by_name;
                CREATE UNIQUE INDEX agents_by_name_key ON agents(name_key);
                ALTER TABLE audit_log ADD COLUMN token_id TEXT;
                """)
        }
        migrator.registerMigration("v8-link-verdicts") { db in
            // Every link verdict an agent got, from any source, bounded per agent (see `recordVerdict`).
            try db.execute(sql: """
                CREATE TABLE link_verdicts (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    agent_id TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
                    verdict TEXT NOT NULL,
                    source TEXT NOT NULL,
                    stage TEXT NOT NULL,
                    summary TEXT NOT NULL,
                    evidence BLOB NOT NULL,
                    first_at REAL NOT NULL,
                    last_at REAL NOT NULL,
                    count INTEGER NOT NULL
                );
                CREATE INDEX link_verdicts_by_agent ON link_verdicts(agent_id, id);
                """)
        }
        migrator.registerMigration("v9-agents-by-name-id") { db in
            // The agent list pages by (name, id): without this index each page scans and sorts
            // every agent (v7 replaced the old index on name with the unique one on name_key).
            try db.execute(sql: "CREATE INDEX agents_by_name_id ON agents(name, id)")
        }
        migrator.registerMigration("v10-cancel-requests") { db in
            // An operator's cancel of a command an agent may hold, kept until the command ends:
            // the node with the agent's connection finds it even if the cancel's signal was lost.
            try db.execute(sql: """
                ALTER TABLE commands ADD COLUMN cancel_requested_at REAL;
                ALTER TABLE commands ADD COLUMN cancel_reason TEXT;
                """)
        }
        migrator.registerMigration("v11-console-sessions") { db in
            // Web console logins, by the hash of the cookie's secret. `idle_expires_at` never passes
            // `expires_at`, so the expiry sweep reads only its index.
            try db.execute(sql: ConsoleSessionSchema.create(double: "REAL"))
            for index in ConsoleSessionSchema.indexes { try db.execute(sql: index) }
        }
        migrator.registerMigration("v12-agent-remote-address") { db in
            // The address of each agent's latest connection, for views that span the cluster (sites).
            try db.execute(sql: "ALTER TABLE agents ADD COLUMN remote_address TEXT")
        }
        migrator.registerMigration("v13-agent-metric-history") { db in
            // Each agent's chart points, one fixed-size blob per agent (`MetricHistoryStore`).
            try db.execute(sql: MetricHistorySchema.create(blob: "BLOB", double: "REAL"))
        }
        return migrator
    }

    /// The states of unfinished commands, exactly as the partial indexes state it.
    static let pendingCondition = "(state = 'queued' OR state = 'sent' OR state = 'delivered' OR state = 'running')"

    /// Dates are REAL seconds since 2001-01-01 UTC (see `SQLiteStore`).
    /// `version` columns hold values of `change_counter`, so a client can ask "what changed after v".
    private static let v1 = """
        CREATE TABLE enrollment_tokens (
            id TEXT PRIMARY KEY NOT NULL,
            hash TEXT NOT NULL UNIQUE,
            created_at REAL NOT NULL,
            expires_at REAL,
            uses_left INTEGER NOT NULL CHECK (uses_left >= 0),
            revoked_at REAL
        );

        CREATE TABLE agents (
            id TEXT PRIMARY KEY NOT NULL,
            name TEXT NOT NULL,
            public_key TEXT NOT NULL UNIQUE,
            hostname TEXT NOT NULL,
            os TEXT NOT NULL,
            version TEXT NOT NULL,
            enrolled_at REAL NOT NULL,
            epoch INTEGER NOT NULL DEFAULT 0,
            last_seen_at REAL,
            connected_since REAL,
            last_downlink_at REAL,
            disconnected_at REAL,
            config_version_applied INTEGER,
            last_pong_rtt_ms REAL,
            metrics_json TEXT,
            revoked_at REAL
        );
        CREATE INDEX agents_by_name ON agents(name);

        CREATE TABLE commands (
            id TEXT PRIMARY KEY NOT NULL,
            agent_id TEXT NOT NULL REFERENCES agents(id),
            batch_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            text TEXT NOT NULL,
            interpreter TEXT,
            timeout_seconds REAL NOT NULL,
            created_at REAL NOT NULL,
            expires_at REAL NOT NULL,
            state TEXT NOT NULL,
            reason TEXT,
            exit_code INTEGER,
            signal INTEGER,
            stdout_truncated INTEGER NOT NULL DEFAULT 0,
            stderr_truncated INTEGER NOT NULL DEFAULT 0,
            updated_at REAL NOT NULL,
            created_by TEXT NOT NULL,
            version INTEGER NOT NULL
        );
        CREATE INDEX commands_by_agent_state ON commands(agent_id, state);
        CREATE INDEX commands_by_agent_created ON commands(agent_id, created_at);
        CREATE INDEX commands_by_created ON commands(created_at);
        CREATE INDEX commands_by_batch_version ON commands(batch_id, version);
        CREATE INDEX commands_by_state_expiry ON commands(state, expires_at);

        CREATE TABLE command_events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            command_id TEXT NOT NULL REFERENCES commands(id),
            state TEXT NOT NULL,
            occurred_at REAL NOT NULL,
            reason TEXT
        );
        CREATE INDEX command_events_by_command ON command_events(command_id, id);

        CREATE TABLE command_output (
            command_id TEXT NOT NULL REFERENCES commands(id),
            stream TEXT NOT NULL,
            byte_offset INTEGER NOT NULL,
            data BLOB NOT NULL,
            version INTEGER NOT NULL,
            PRIMARY KEY (command_id, stream, byte_offset)
        );

        CREATE TABLE api_tokens (
            id TEXT PRIMARY KEY NOT NULL,
            name TEXT NOT NULL,
            role TEXT NOT NULL,
            hash TEXT NOT NULL UNIQUE,
            created_at REAL NOT NULL,
            revoked_at REAL
        );

        CREATE TABLE settings (
            key TEXT PRIMARY KEY NOT NULL,
            value TEXT NOT NULL,
            version INTEGER NOT NULL
        );

        CREATE TABLE change_counter (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            value INTEGER NOT NULL
        );
        INSERT INTO change_counter (id, value) VALUES (1, 0);
        """
}
