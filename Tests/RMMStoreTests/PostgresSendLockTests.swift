import Foundation
import PostgresNIO
import RMMProtocol
import RMMTestSupport
import Testing
@testable import RMMStore

/// The row locks behind "one route per agent" on PostgreSQL: a move to `sent` share-locks the
/// agent's row (`FOR KEY SHARE`) until it commits; a connect, which stores the new epoch, takes
/// `FOR UPDATE` and so waits for it; the frequent writers of that row (liveness flushes, command
/// inserts) take weaker locks and do not queue behind sends.
@Suite("PostgreSQL send lock")
struct PostgresSendLockTests {
    @Test("a connect waits for a send's lock on the agent's row; a liveness flush and a command insert do not")
    func connectWaitsForSendLock() async throws {
        let (store, server, database) = try await SessionRouteStoreTests.postgres(epoch: 1, commands: [])
        defer { store.close() }
        let (lockedSignals, locked) = AsyncStream<Void>.makeStream()
        let (releaseSignals, release) = AsyncStream<Void>.makeStream()
        // A transaction holding the lock markSent takes, until the test releases it.
        let holder = Task {
            try await store.write { connection in
                for try await _ in try await connection.query("SELECT epoch FROM agents WHERE id = 'ag_1' FOR KEY SHARE", logger: store.logger) {}
                locked.yield()
                var waiting = releaseSignals.makeAsyncIterator()
                _ = await waiting.next()
            }
        }
        var lockedWait = lockedSignals.makeAsyncIterator()
        _ = await lockedWait.next()

        // Not held up: these return while the lock is held.
        try await store.saveLiveness(agentId: "ag_1", AgentLiveness(lastSeenAt: Fixture.at(2), epoch: 1))
        try await store.insertCommands([Fixture.command("c1", agent: "ag_1")], maxPendingPerAgent: 10, audit: nil)

        let connect = Task { try await store.recordConnect(agentId: "ag_1", facts: Fixture.facts(), now: Fixture.at(3)) }
        try await Self.waitForLockWait(server: server, database: database)
        #expect(try await store.agentEpochs(agentIds: ["ag_1"]) == ["ag_1": 1])
        release.yield()
        let connected = try await connect.value
        #expect(connected.epoch == 2)
        try await holder.value
        // The send's epoch is now stale.
        #expect(try await store.markSent(commandIds: ["c1"], agentId: "ag_1", epoch: 1, reason: nil, now: Fixture.at(4)) == .superseded(currentEpoch: 2))
    }

    /// Waits (at most 30 s) until a statement on `database` waits for a lock.
    static func waitForLockWait(server: PostgresTestServer, database: String) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let waiting = try await server.psql(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = '\(database)' AND wait_event_type = 'Lock'"
            ).trimmingCharacters(in: .whitespacesAndNewlines)
            if waiting == "1" { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("no statement waited for a lock within 30 s")
    }
}
