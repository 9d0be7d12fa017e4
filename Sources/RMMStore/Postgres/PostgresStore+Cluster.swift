import Foundation
import PostgresNIO

/// The cluster's keys and node leases, each decision one atomic statement.
extension PostgresStore {
    public func claimIdentity(_ identity: ClusterIdentity, node: String) async throws -> ClusterIdentityOutcome {
        try await write { connection in
            // Concurrent first starts: the primary key lets exactly one insert; the others wait for
            // it to commit, insert nothing, and then read its keys.
            let inserted = try await connection.query(
                """
                INSERT INTO cluster_identity (id, signing_key, tls_trust, first_node) VALUES (1, \(identity.signingKey), \(identity.tlsTrust), \(node))
                ON CONFLICT (id) DO NOTHING RETURNING id
                """, logger: logger)
            for try await _ in inserted.decode(Int32.self) { return .recorded }
            let rows = try await connection.query(
                "SELECT signing_key, tls_trust, first_node, recorded_at FROM cluster_identity WHERE id = 1", logger: logger)
            for try await (key, trust, first, since) in rows.decode((String?, String?, String?, Date?).self) {
                guard let key, let trust, let first, let since else { throw StoreError.corrupt("cluster_identity has a NULL column") }
                let stored = ClusterIdentity(signingKey: key, tlsTrust: trust)
                return stored == identity ? .matches : .differs(stored: stored, firstNode: first, since: since)
            }
            throw StoreError.corrupt("cluster_identity has no row after an insert that conflicted")
        }
    }

    public func acquireNodeLease(_ claim: NodeClaim) async throws -> NodeLeaseGrant {
        try await write { connection in
            // One statement: a free or expired name is taken, a held one is left alone (the
            // conflicting row is locked, so two starts of one name cannot both take it).
            let taken = try await connection.query(
                """
                INSERT INTO nodes (name, instance, lease_expires_at, started_at)
                VALUES (\(claim.name), \(claim.instance), clock_timestamp() + make_interval(secs => \(claim.leaseSeconds)), clock_timestamp())
                ON CONFLICT (name) DO UPDATE SET instance = excluded.instance, agent_url = '', api_url = '', peer_url = '',
                    lease_expires_at = excluded.lease_expires_at, started_at = excluded.started_at, draining = FALSE
                WHERE nodes.lease_expires_at < clock_timestamp()
                RETURNING instance
                """, logger: logger)
            for try await _ in taken.decode(String.self) { return .acquired }
            let holder = try await connection.query(
                "SELECT started_at, lease_expires_at FROM nodes WHERE name = \(claim.name)", logger: logger)
            for try await (since, until) in holder.decode((Date?, Date?).self) {
                guard let since, let until else { throw StoreError.corrupt("node \(claim.name) has a NULL lease time") }
                return .held(since: since, until: until)
            }
            throw StoreError.corrupt("node \(claim.name) was neither taken nor found")
        }
    }

    public func advertiseNode(_ claim: NodeClaim, agentUrl: String, apiUrl: String, peerUrl: String) async throws -> NodeLeaseRenewal {
        try await write { connection in
            let rows = try await connection.query(
                """
                UPDATE nodes SET agent_url = \(agentUrl), api_url = \(apiUrl), peer_url = \(peerUrl)
                WHERE name = \(claim.name) AND instance = \(claim.instance) RETURNING name
                """, logger: logger)
            for try await _ in rows.decode(String.self) { return .renewed }
            return .lost
        }
    }

    public func renewNodeLease(_ claim: NodeClaim, draining: Bool) async throws -> NodeLeaseRenewal {
        let logger = self.logger
        return try await onLeaseConnection { connection in
            // The instance check is the whole guard: while this start's row is there, no other start
            // took the name (`acquireNodeLease` replaces the instance), so extending it, even long
            // after its expiry (a database outage), cannot make two holders.
            let rows = try await connection.query(
                """
                UPDATE nodes SET lease_expires_at = clock_timestamp() + make_interval(secs => \(claim.leaseSeconds)), draining = \(draining)
                WHERE name = \(claim.name) AND instance = \(claim.instance) RETURNING name
                """, logger: logger)
            for try await _ in rows.decode(String.self) { return .renewed }
            return .lost
        }
    }

    public func releaseNodeLease(_ claim: NodeClaim) async throws {
        try await write { connection in
            _ = try await connection.query("DELETE FROM nodes WHERE name = \(claim.name) AND instance = \(claim.instance)", logger: logger)
        }
    }

    public func liveNodes() async throws -> [LiveNode] {
        try await read { connection in
            let rows = try await connection.query(
                """
                SELECT name, agent_url, api_url, draining FROM nodes
                WHERE lease_expires_at > clock_timestamp() AND agent_url <> '' ORDER BY name
                """, logger: logger)
            var nodes: [LiveNode] = []
            for try await (name, agentUrl, apiUrl, draining) in rows.decode((String?, String?, String?, Bool?).self) {
                guard let name, let agentUrl, let apiUrl, let draining else { throw StoreError.corrupt("a nodes row has a NULL column") }
                nodes.append(LiveNode(name: name, agentUrl: agentUrl, apiUrl: apiUrl, draining: draining))
            }
            return nodes
        }
    }

    public func nodePeers() async throws -> [NodePeer] {
        try await read { connection in
            let rows = try await connection.query(
                """
                SELECT name, instance, peer_url FROM nodes
                WHERE lease_expires_at > clock_timestamp() AND peer_url <> '' ORDER BY name
                """, logger: logger)
            var peers: [NodePeer] = []
            for try await (name, instance, peerUrl) in rows.decode((String?, String?, String?).self) {
                guard let name, let instance, let peerUrl else { throw StoreError.corrupt("a nodes row has a NULL column") }
                peers.append(NodePeer(name: name, instance: instance, peerUrl: peerUrl))
            }
            return peers
        }
    }
}
