import Foundation
import Logging
import PostgresNIO
import RMMProtocol
import RMMTestSupport
import Testing
@testable import RMMStore

/// Group commit of agents' reports on PostgreSQL (`PostgresGroupWriter`): reports that
/// arrive while every report writer is busy share one transaction, each caller still gets its
/// own effects, and a report that fails the shared transaction fails alone.
@Suite("PostgreSQL report group commit")
struct PostgresReportGroupTests {
    /// Agents `ag_0`…`ag_<agents-1>`, each with one command `c<i>` in state `sent`.
    private static func fleet(agents: Int) async throws -> (PostgresStore, PostgresTestServer, String) {
        let server = try await PostgresTestServer.shared()
        let location = try PostgresLocation(parsing: try await server.createDatabase(prefix: "reportgroup"))
        let store = try await PostgresStore.open(location, password: nil, logger: Logger(label: "test.reportgroup"))
        var sql = ""
        for index in 0..<agents {
            sql += """
                INSERT INTO agents (id, name, name_key, public_key, hostname, os, version, enrolled_at, epoch)
                VALUES ('ag_\(index)', 'host-\(index)', 'host-\(index)', 'key-\(index)', 'h', 'linux', '1', 0, 1);
                INSERT INTO commands (id, agent_id, batch_id, kind, text, timeout_seconds, created_at, expires_at, state, updated_at, created_by, version)
                VALUES ('c\(index)', 'ag_\(index)', 'b1', 'shell', 'echo', 30, 0, 600, 'sent', 0, 'ops', 1);

                """
        }
        _ = try await server.psql(sql, database: location.database)
        return (store, server, location.database)
    }

    /// Runs `lockSQL` in a transaction of `store`'s and keeps that transaction (and its locks)
    /// open until `release` is called; returns once the locks are held.
    private static func holding(_ lockSQL: String, in store: PostgresStore) async throws -> (release: @Sendable () -> Void, holder: Task<Void, any Error>) {
        let (heldSignals, held) = AsyncStream<Void>.makeStream()
        let (letGoSignals, letGo) = AsyncStream<Void>.makeStream()
        let holder = Task {
            try await store.write { connection in
                for try await _ in try await connection.query(PostgresQuery(unsafeSQL: lockSQL), logger: store.logger) {}
                held.yield()
                var waiting = letGoSignals.makeAsyncIterator()
                _ = await waiting.next()
            }
        }
        var heldWait = heldSignals.makeAsyncIterator()
        _ = await heldWait.next()
        return ({ letGo.yield() }, holder)
    }

    /// Holds `c0`'s row lock and fills every report lane with a write that waits for it; returns
    /// the release. Writes made after this queue in the report writer.
    private static func blockEveryLane(_ store: PostgresStore, server: PostgresTestServer, database: String) async throws -> (release: @Sendable () -> Void, holder: Task<Void, any Error>, blocked: [Task<[ReportEffect], any Error>]) {
        let (release, holder) = try await holding("SELECT id FROM commands WHERE id = 'c0' FOR UPDATE", in: store)
        var blocked: [Task<[ReportEffect], any Error>] = []
        let lanes = PostgresStore.reportLanes(connections: 8)
        for lane in 1...lanes {
            // One at a time, so each takes a lane of its own rather than joining the one before.
            blocked.append(Task { try await store.recordReports([.acknowledged(commandId: "c0", reason: nil)], agentId: "ag_0", now: Fixture.at(Double(lane))) })
            try await waitForLockWaits(lane, server: server, database: database)
        }
        return (release, holder, blocked)
    }

    /// Records each agent's reports while every report writer is busy, so they queue and then
    /// share one transaction; returns each agent's outcome, in order.
    private static func writtenTogether(_ writes: [(agentId: String, reports: [CommandReport])], store: PostgresStore,
                                        server: PostgresTestServer, database: String) async throws -> [Result<[ReportEffect], any Error>] {
        let (release, holder, blocked) = try await blockEveryLane(store, server: server, database: database)
        let waiting = writes.map { write in
            Task { try await store.recordReports(write.reports, agentId: write.agentId, now: Fixture.at(10)) }
        }
        try await waitUntil("\(writes.count) report writes queue behind the busy writers", timeout: .seconds(30)) {
            store.reportWriter.waitingForTest == writes.count
        }
        release()
        try await holder.value
        for task in blocked { _ = try await task.value }
        var results: [Result<[ReportEffect], any Error>] = []
        for task in waiting { results.append(await task.result) }
        return results
    }

    /// Agent `ag_<index>` acknowledging and starting its command `c<index>`.
    private static func ackAndStart(_ index: Int) -> (agentId: String, reports: [CommandReport]) {
        ("ag_\(index)", [.acknowledged(commandId: "c\(index)", reason: nil), .started(commandId: "c\(index)", reason: nil)])
    }

    @Test("reports that arrive while every writer is busy share one transaction, each with its own effects")
    func busyWritersShareOneTransaction() async throws {
        let (store, server, database) = try await Self.fleet(agents: 21)
        defer { store.close() }
        let before = store.reportWriter.counts
        let results = try await Self.writtenTogether((1...20).map { index in
            ("ag_\(index)", [
                .acknowledged(commandId: "c\(index)", reason: nil),
                .started(commandId: "c\(index)", reason: "pid \(index)"),
                .finished(commandId: "c\(index)", outcome: CommandOutcome(state: .succeeded, exitCode: 0, stdout: Data("out \(index)".utf8))),
                // Another agent's command: refused for this one, in the same transaction.
                .acknowledged(commandId: index == 1 ? "c2" : "c1", reason: nil),
            ])
        }, store: store, server: server, database: database)
        let lanes = PostgresStore.reportLanes(connections: 8)
        for (offset, result) in results.enumerated() {
            let index = offset + 1
            let effects = try result.get()
            let stored = try #require(try await store.command(id: "c\(index)"))
            #expect(stored.state == .succeeded && stored.exitCode == 0)
            #expect(effects.count == 4)
            #expect(effects[2] == .changed(stored))
            #expect(effects[3] == .notOwned)
            #expect(try await store.events(commandId: "c\(index)").map(\.state) == [.delivered, .running, .succeeded])
            #expect(try await store.output(commandId: "c\(index)", stream: .stdout) == Data("out \(index)".utf8))
        }
        // The blocked lanes' three transactions, then one for all twenty agents.
        let after = store.reportWriter.counts
        #expect(after.batches - before.batches == 1 + lanes)
        #expect(after.items - before.items == 20 + lanes)
        // One version for the twenty: they committed together.
        let versions = try await server.psql("SELECT count(DISTINCT version) FROM commands WHERE id <> 'c0'", database: database)
        #expect(versions.trimmingCharacters(in: .whitespacesAndNewlines) == "1")
    }

    @Test("a report whose command cannot be read fails alone; the others in its transaction are stored")
    func aFailingReportFailsAlone() async throws {
        let (store, server, database) = try await Self.fleet(agents: 6)
        defer { store.close() }
        // Another writer left c3 unreadable.
        _ = try await server.psql("UPDATE commands SET state = 'no-such-state' WHERE id = 'c3'", database: database)
        let results = try await Self.writtenTogether((1...5).map(Self.ackAndStart), store: store, server: server, database: database)
        for (offset, result) in results.enumerated() {
            let index = offset + 1
            if index == 3 {
                #expect(throws: StoreError.self) { _ = try result.get() }
                continue
            }
            #expect(try result.get().count == 2)
            #expect(try await store.command(id: "c\(index)")?.state == .running)
        }
        let c3 = try await server.psql("SELECT state FROM commands WHERE id = 'c3'", database: database)
        #expect(c3.trimmingCharacters(in: .whitespacesAndNewlines) == "no-such-state")
    }

    @Test("a report whose command row another transaction holds does not hold up its batch: the others are stored, it is told to retry")
    func aHeldRowDoesNotHoldUpTheBatch() async throws {
        let (store, server, database) = try await Self.fleet(agents: 6)
        defer { store.close() }
        // A transaction elsewhere (a node that froze mid-transaction, say) holds c1.
        let (letGo, holder) = try await Self.holding("SELECT id FROM commands WHERE id = 'c1' FOR UPDATE", in: store)
        // The five share a transaction, which meets c1's lock.
        let results = try await Self.writtenTogether((1...5).map(Self.ackAndStart), store: store, server: server, database: database)
        for (offset, result) in results.enumerated() {
            let index = offset + 1
            if index == 1 {
                #expect(throws: StoreError.self) { _ = try result.get() }
                continue
            }
            #expect(try result.get().count == 2)
            #expect(try await store.command(id: "c\(index)")?.state == .running)
        }
        // Still held: nothing of c1 was stored. Let go, and the agent's retry applies once.
        #expect(try await store.command(id: "c1")?.state == .sent)
        letGo()
        try await holder.value
        #expect(try await store.recordReports(Self.ackAndStart(1).reports, agentId: "ag_1", now: Fixture.at(11)).count == 2)
        #expect(try await store.events(commandId: "c1").map(\.state) == [.delivered, .running])
    }

    /// Waits (at most 30 s) until `count` statements on `database` wait for a lock.
    private static func waitForLockWaits(_ count: Int, server: PostgresTestServer, database: String) async throws {
        try await waitUntil("\(count) statements to wait for a lock", timeout: .seconds(30)) {
            let waiting = try await server.psql(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = '\(database)' AND wait_event_type = 'Lock'"
            ).trimmingCharacters(in: .whitespacesAndNewlines)
            return waiting == "\(count)"
        }
    }
}
