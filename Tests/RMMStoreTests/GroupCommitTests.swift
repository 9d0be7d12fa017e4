import Foundation
import GRDB
import RMMTestSupport
import Synchronization
import Testing

@testable import RMMStore

/// Group commit: concurrent writes share a transaction, fail alone, and return only after commit.
@Suite("Group commit")
struct GroupCommitTests {
    private func queue() throws -> DatabaseQueue {
        let queue = try DatabaseQueue()
        try queue.write { db in try db.execute(sql: "CREATE TABLE t (id INTEGER PRIMARY KEY)") }
        return queue
    }

    /// Holds the writer inside a first write until released, so that the next writes queue up.
    private final class Gate: Sendable {
        let entered = Mutex(false)
        let release = DispatchSemaphore(value: 0)
    }

    @Test("writes that queue behind a busy writer commit together, and one that fails rolls back alone")
    func batchesAndIsolates() async throws {
        let queue = try queue()
        let committer = GroupCommitter(writer: queue)
        let gate = Gate()
        async let first: Void = committer.write { db in
            gate.entered.withLock { $0 = true }
            // Runs on GRDB's writer queue, not on Swift's cooperative pool.
            gate.release.wait()
            try db.execute(sql: "INSERT INTO t (id) VALUES (0)")
        }
        try await waitUntil("first write holds the writer", timeout: .seconds(10)) { gate.entered.withLock { $0 } }
        let results = try await withThrowingTaskGroup(of: (Int, Bool).self) { group in
            for id in 1...50 {
                group.addTask {
                    do {
                        // id 25 collides with id 24 on purpose: its savepoint rolls back, nothing else does.
                        try await committer.write { db in try db.execute(sql: "INSERT INTO t (id) VALUES (?)", arguments: [id == 25 ? 24 : id]) }
                        return (id, true)
                    } catch {
                        return (id, false)
                    }
                }
            }
            try await waitUntil("50 writes queued", timeout: .seconds(10)) { committer.queuedForTest == 50 }
            gate.release.signal()
            var results: [Int: Bool] = [:]
            for try await (id, ok) in group { results[id] = ok }
            return results
        }
        try await first
        #expect(results.filter { !$0.value }.map(\.key) == [25])
        let count = try await queue.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM t") }
        #expect(count == 50)
        let counts = committer.counts
        #expect(counts.jobs == 51)
        #expect(counts.batches == 2, "the first write alone, then the 50 queued ones together")
    }

    @Test("a lone write commits at once")
    func loneWrite() async throws {
        let committer = GroupCommitter(writer: try queue())
        let id = try await committer.write { db -> Int64 in
            try db.execute(sql: "INSERT INTO t (id) VALUES (7)")
            return db.lastInsertedRowID
        }
        #expect(id == 7)
        #expect(committer.counts.batches == 1)
    }
}
