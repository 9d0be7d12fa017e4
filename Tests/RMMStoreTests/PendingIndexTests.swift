import Foundation
import GRDB
import Testing
@testable import RMMStore

/// The lookups of unfinished work use the partial indexes over unfinished commands: SQLite takes a
/// partial index only when a query repeats its condition, so a reworded query would quietly fall
/// back to scanning every command ever made.
@Suite struct PendingIndexTests {
    private func plan(_ sql: String, _ arguments: StatementArguments) async throws -> String {
        let path = Fixture.temporaryPath()
        defer { Fixture.removeDatabase(at: path) }
        _ = try SQLiteStore(path: path)
        let queue = try DatabaseQueue(path: path)
        return try await queue.read { db in
            try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql, arguments: arguments).map { row -> String in row["detail"] }.joined(separator: "\n")
        }
    }

    @Test("the agent list's pages walk the (name, id) index: no scan and sort of every agent per page")
    func agentPagesUseTheNameIndex() async throws {
        let pages: [(String, StatementArguments)] = [(SQLiteStore.agentFirstPageQuery, [500]), (SQLiteStore.agentPageAfterQuery, ["web", "ag_1", 500])]
        for (sql, arguments) in pages {
            let detail = try await plan(sql, arguments)
            #expect(detail.contains("agents_by_name_id"), "\(detail)")
            #expect(!detail.contains("TEMP B-TREE"), "\(detail)")
        }
    }

    @Test func pendingCountsUseThePendingIndexOnly() async throws {
        let detail = try await plan(SQLiteStore.pendingCountsQuery, ["[\"ag_1\"]"])
        #expect(detail.contains("commands_pending_by_agent"), "\(detail)")
        #expect(detail.contains("COVERING INDEX"), "\(detail)")
    }

    @Test func aBatchsPendingCountUsesThePendingIndexOnly() async throws {
        let detail = try await plan(SQLiteStore.batchPendingQuery, ["b_1"])
        #expect(detail.contains("commands_pending_by_batch"), "\(detail)")
        #expect(detail.contains("COVERING INDEX"), "\(detail)")
    }

    @Test func undeliveredUsesThePendingIndex() async throws {
        let detail = try await plan(SQLiteStore.commandsQuery(where: SQLiteStore.undeliveredCondition, order: "created_at, rowid", index: "commands_pending_by_agent"), ["ag_1"])
        #expect(detail.contains("commands_pending_by_agent"), "\(detail)")
    }

    @Test func expiryAndOverdueSweepsUseThePendingIndex() async throws {
        let toExpire = try await plan(SQLiteStore.commandsQuery(where: SQLiteStore.toExpireCondition, order: "expires_at, rowid"), [1.0])
        #expect(toExpire.contains("commands_pending_by_expiry"), "\(toExpire)")
        let overdue = try await plan(SQLiteStore.commandsQuery(where: SQLiteStore.overdueCondition, order: "expires_at, rowid"), [1.0, 2.0])
        #expect(overdue.contains("commands_pending_by_expiry"), "\(overdue)")
    }

    @Test func finishedCommandsLeaveThePendingIndexes() async throws {
        let path = Fixture.temporaryPath()
        defer { Fixture.removeDatabase(at: path) }
        let store = try SQLiteStore(path: path)
        _ = try await store.createEnrollmentToken(hash: "tok", expiresAt: nil, uses: 1, now: Fixture.t0)
        let agent = try await store.enrollAgent(tokenHash: "tok", publicKey: "key-1", facts: Fixture.facts(), now: Fixture.t0)
        try await store.insertCommands([Fixture.command("c1", agent: agent.id), Fixture.command("c2", agent: agent.id)])
        _ = try await store.finish(commandId: "c1", outcome: CommandOutcome(state: .cancelled), now: Fixture.at(1))
        let queue = try DatabaseQueue(path: path)
        let entries = try await queue.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM commands INDEXED BY commands_pending_by_agent WHERE \(SQLiteStore.pendingCondition)")
        }
        #expect(entries == 1)
        #expect(try await store.pendingCommandCounts(agentIds: [agent.id]) == [agent.id: 1])
        #expect(try await store.batchPendingCount(batchId: "b1") == 1)
        _ = try await store.finish(commandId: "c2", outcome: CommandOutcome(state: .cancelled), now: Fixture.at(2))
        #expect(try await store.batchPendingCount(batchId: "b1") == 0)
        #expect(try await store.batchPendingCount(batchId: "b_unknown") == 0)
        #expect(try await store.batchStateCounts(batchId: "b1") == [.cancelled: 2])
    }
}
