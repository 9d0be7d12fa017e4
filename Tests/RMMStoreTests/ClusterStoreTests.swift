import Foundation
import RMMStore
import Testing

/// The cluster's keys and its nodes' leases, against a real PostgreSQL (each decision one atomic statement).
@Suite("Cluster store: keys and node leases")
struct ClusterStoreTests {
    let keys = ClusterIdentity(signingKey: "key-a", tlsTrust: "pin-a")

    func claim(_ name: String, _ instance: String, seconds: Double = 60) -> NodeClaim {
        NodeClaim(name: name, instance: instance, leaseSeconds: seconds)
    }

    @Test("the first node's keys become the cluster's; others are compared with them")
    func identity() async throws {
        let store = try await StoreBackend.postgresStore()
        defer { store.close() }
        #expect(try await store.claimIdentity(keys, node: "n1") == .recorded)
        #expect(try await store.claimIdentity(keys, node: "n2") == .matches)
        let other = ClusterIdentity(signingKey: "key-b", tlsTrust: "pin-a")
        guard case .differs(let stored, let first, _) = try await store.claimIdentity(other, node: "n3") else {
            Issue.record("a node with another signing key was not refused")
            return
        }
        #expect(stored == keys && first == "n1")
    }

    @Test("of concurrent first starts with different keys exactly one records its keys")
    func concurrentFirstStarts() async throws {
        let store = try await StoreBackend.postgresStore()
        defer { store.close() }
        let outcomes = try await withThrowingTaskGroup(of: (Int, ClusterIdentityOutcome).self) { group in
            for index in 0..<20 {
                group.addTask { (index, try await store.claimIdentity(ClusterIdentity(signingKey: "key-\(index)", tlsTrust: "plain"), node: "n\(index)")) }
            }
            return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        let winners = outcomes.filter { $0.value == .recorded }.map(\.key)
        #expect(winners.count == 1)
        for (index, outcome) in outcomes where index != winners.first {
            guard case .differs(let stored, let first, _) = outcome else {
                Issue.record("node \(index) was not refused: \(outcome)")
                continue
            }
            #expect(stored.signingKey == "key-\(winners.first ?? -1)" && first == "n\(winners.first ?? -1)")
        }
    }

    @Test("a held name is refused, an expired one is taken, and the old holder finds its lease lost")
    func leases() async throws {
        let store = try await StoreBackend.postgresStore()
        defer { store.close() }
        #expect(try await store.acquireNodeLease(claim("n1", "a")) == .acquired)
        guard case .held(let since, let until) = try await store.acquireNodeLease(claim("n1", "b")) else {
            Issue.record("a held name was taken")
            return
        }
        #expect(since < until)
        #expect(try await store.renewNodeLease(claim("n1", "a"), draining: false) == .renewed)
        #expect(try await store.acquireNodeLease(claim("n2", "c")) == .acquired, "another name is free")

        // A zero-length renewal leaves the lease expired on the database's clock at once.
        #expect(try await store.renewNodeLease(claim("n1", "a", seconds: 0), draining: false) == .renewed)
        #expect(try await store.acquireNodeLease(claim("n1", "b")) == .acquired)
        #expect(try await store.renewNodeLease(claim("n1", "a"), draining: false) == .lost)
        #expect(try await store.advertiseNode(claim("n1", "a"), agentUrl: "wss://x/agent", apiUrl: "https://x", peerUrl: "") == .lost)
        #expect(try await store.renewNodeLease(claim("n1", "b"), draining: false) == .renewed)

        // A release frees the name at once; a stale start's release changes nothing.
        try await store.releaseNodeLease(claim("n2", "stale"))
        #expect(try await store.acquireNodeLease(claim("n2", "d")) != .acquired)
        try await store.releaseNodeLease(claim("n2", "c"))
        #expect(try await store.acquireNodeLease(claim("n2", "d")) == .acquired)
    }

    @Test("of concurrent starts of one name exactly one takes it")
    func concurrentStartsOfOneName() async throws {
        let store = try await StoreBackend.postgresStore()
        defer { store.close() }
        let grants = try await withThrowingTaskGroup(of: NodeLeaseGrant.self) { group in
            for index in 0..<20 {
                group.addTask { try await store.acquireNodeLease(claim("n1", "i\(index)")) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(grants.filter { $0 == .acquired }.count == 1)
    }

    @Test("live nodes are those with a current lease and advertised URLs, by name")
    func liveNodes() async throws {
        let store = try await StoreBackend.postgresStore()
        defer { store.close() }
        #expect(try await store.acquireNodeLease(claim("b", "1")) == .acquired)
        #expect(try await store.acquireNodeLease(claim("a", "2")) == .acquired)
        #expect(try await store.acquireNodeLease(claim("c", "3")) == .acquired)
        #expect(try await store.liveNodes().isEmpty, "no node advertised yet")
        #expect(try await store.advertiseNode(claim("b", "1"), agentUrl: "wss://b/agent", apiUrl: "https://b", peerUrl: "wss://b-peer:7443") == .renewed)
        #expect(try await store.advertiseNode(claim("a", "2"), agentUrl: "wss://a/agent", apiUrl: "https://a", peerUrl: "") == .renewed)
        #expect(try await store.advertiseNode(claim("c", "3"), agentUrl: "wss://c/agent", apiUrl: "https://c", peerUrl: "wss://c-peer:7443") == .renewed)
        #expect(try await store.renewNodeLease(claim("c", "3", seconds: 0), draining: false) == .renewed)
        #expect(try await store.renewNodeLease(claim("b", "1"), draining: true) == .renewed)
        #expect(try await store.liveNodes() == [
            LiveNode(name: "a", agentUrl: "wss://a/agent", apiUrl: "https://a", draining: false),
            LiveNode(name: "b", agentUrl: "wss://b/agent", apiUrl: "https://b", draining: true),
        ])
        // Peers: a current lease and a peer URL (a draining node still holds its connections).
        #expect(try await store.nodePeers() == [NodePeer(name: "b", instance: "1", peerUrl: "wss://b-peer:7443")])
        // A new start of the name has no peer URL until it advertises one.
        #expect(try await store.acquireNodeLease(claim("c", "4")) == .acquired)
        #expect(try await store.advertiseNode(claim("c", "4"), agentUrl: "wss://c/agent", apiUrl: "https://c", peerUrl: "wss://c-peer:7443") == .renewed)
        #expect(try await store.nodePeers().map(\.instance) == ["1", "4"])
    }

    @Test("a SQLite store is one node: every claim succeeds and it lists no peers")
    func sqliteIsOneNode() async throws {
        let store = try SQLiteStore.inMemory()
        #expect(try await store.claimIdentity(keys, node: "n1") == .matches)
        #expect(try await store.acquireNodeLease(claim("n1", "a")) == .acquired)
        #expect(try await store.acquireNodeLease(claim("n1", "b")) == .acquired)
        #expect(try await store.renewNodeLease(claim("n1", "a"), draining: false) == .renewed)
        #expect(try await store.liveNodes().isEmpty)
        #expect(try await store.nodePeers().isEmpty)
    }
}
