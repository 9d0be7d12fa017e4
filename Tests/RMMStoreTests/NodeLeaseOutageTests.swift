import Foundation
import Logging
@testable import RMMStore
import RMMTestSupport
import Synchronization
import Testing

/// A node's lease across a PostgreSQL restart, on a server of the suite's own (the shared one
/// keeps running for the other suites): a renewal after the outage keeps the name if no other
/// start took it, and says `lost` if one did; while the database is away calls fail at once,
/// naming it, and the first renewal that gets through brings the store back.
@Suite("Node lease across a database outage", .serialized)
struct NodeLeaseOutageTests {
    @Test("after a restart longer than the lease, a renewal renews this start's row, or finds the name taken by another start")
    func renewalAfterRestart() async throws {
        let server = try await PostgresTestServer.start()
        let url = try await server.createDatabase(prefix: "lease_outage")
        let store = try await PostgresStore.open(try PostgresLocation(parsing: url), password: nil, logger: Logger(label: "test.lease-outage"))
        defer { store.close() }
        let kept = NodeClaim(name: "n1", instance: "first-start", leaseSeconds: 1)
        let taken = NodeClaim(name: "n2", instance: "first-start", leaseSeconds: 1)
        #expect(try await store.acquireNodeLease(kept) == .acquired)
        #expect(try await store.acquireNodeLease(taken) == .acquired)

        try await server.stop()
        // What the lease service does when a renewal is not answered in time (the pool queues
        // requests while it cannot connect): every other call then fails at once, saying why.
        store.databaseUnanswered("the renewal was not answered in time")
        let clock = ContinuousClock()
        let start = clock.now
        do {
            _ = try await store.liveNodes()
            Issue.record("a call succeeded with the database stopped")
        } catch StoreError.unavailable(let why) {
            #expect(why.contains("PostgreSQL at") && why.contains("has not answered"), "\(why)")
        }
        #expect(clock.now - start < .seconds(1), "a call while the database is away must not wait in the pool's queue")

        try await server.restart()
        // Both leases expired meanwhile on the database's clock; another start takes n2.
        let other = try await PostgresStore.open(try PostgresLocation(parsing: url), password: nil, logger: Logger(label: "test.lease-outage"))
        defer { other.close() }
        let newer = NodeClaim(name: "n2", instance: "second-start", leaseSeconds: 60)
        try await waitUntil("the expired name is taken by another start", timeout: .seconds(30)) {
            try await other.acquireNodeLease(newer) == .acquired
        }
        // The first store finds the database again through its renewal (the pool reconnects with backoff).
        let renewal = Mutex<NodeLeaseRenewal?>(nil)
        try await waitUntil("a renewal gets through", timeout: .seconds(60)) {
            let answer = try? await store.renewNodeLease(kept, draining: false)
            renewal.withLock { $0 = answer }
            return answer != nil
        }
        #expect(renewal.withLock { $0 } == .renewed, "this start's expired row, untaken, is renewed")
        #expect(try await store.renewNodeLease(taken, draining: false) == .lost, "the name another start took is lost")
        // The store is back for every call, and lists the renewed node again.
        #expect(try await store.renewNodeLease(newer, draining: false) == .renewed)
        // Renewed for longer (same start), so a slow machine cannot let it expire before the listing.
        var longer = kept
        longer.leaseSeconds = 60
        #expect(try await store.renewNodeLease(longer, draining: false) == .renewed)
        _ = try await store.advertiseNode(kept, agentUrl: "ws://n1", apiUrl: "http://n1", peerUrl: "ws://n1:1")
        _ = try await store.advertiseNode(newer, agentUrl: "ws://n2", apiUrl: "http://n2", peerUrl: "ws://n2:1")
        #expect(try await store.liveNodes().map(\.name) == ["n1", "n2"])
        try await server.stop()
    }
}

/// When the store counts its database away, and what a refused call says: from failures and the time alone.
@Suite struct PostgresReachabilityTests {
    let t0 = Date(timeIntervalSinceReferenceDate: 1_000)

    @Test func awayFromTheFirstFailureUntilACallSucceedsSayingSinceWhenAndTheLatestReason() {
        var state = PostgresReachability.State()
        #expect(state.refusal(at: t0, database: "PostgreSQL at db") == nil)
        state.failed("connection refused", now: t0)
        state.failed("no answer", now: t0 + 4)
        #expect(state.refusal(at: t0 + 12, database: "PostgreSQL at db")
                == .unavailable("PostgreSQL at db has not answered for 12 s (no answer); the node retries by itself"))
        state.answered()
        #expect(state.refusal(at: t0 + 13, database: "PostgreSQL at db") == nil)
        state.failed("again", now: t0 + 20)
        #expect(state.refusal(at: t0 + 20, database: "db")?.description.contains("for 0 s (again)") == true)
    }

    @Test func aRefusedStatementOrACancelledCallDoesNotMarkTheDatabaseAway() {
        #expect(!PostgresStore.isConnectionLoss(StoreError.conflict("taken")))
        #expect(!PostgresStore.isConnectionLoss(CancellationError()))
    }
}
