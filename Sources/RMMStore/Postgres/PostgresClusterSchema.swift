/// Migration `v2-cluster`: the cluster's keys and its nodes' leases. Lease times are the
/// database's clock (`clock_timestamp()`), the one clock every node shares.
enum PostgresClusterSchema {
    static let statements: [String] = [
        """
        CREATE TABLE cluster_identity (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            signing_key TEXT NOT NULL,
            tls_trust TEXT NOT NULL,
            first_node TEXT NOT NULL,
            recorded_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
        )
        """,
        """
        CREATE TABLE nodes (
            name TEXT PRIMARY KEY,
            instance TEXT NOT NULL,
            agent_url TEXT NOT NULL DEFAULT '',
            api_url TEXT NOT NULL DEFAULT '',
            lease_expires_at TIMESTAMPTZ NOT NULL,
            started_at TIMESTAMPTZ NOT NULL,
            draining BOOLEAN NOT NULL DEFAULT FALSE
        )
        """,
    ]
}
