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

        /// Waits for `condition`; if it times out, lets the held write go first, or the test would
        /// hang awaiting it instead of failing.
        func waitUntil(_ what: String, _ condition: @Sendable () async throws -> Bool) async throws {
            do {
                try await RMMTestSupport.waitUntil(what, timeout: .seconds(60), condition)
            } catch {
                release.signal()
                throw error
            }
        }
    }

    /// How many times each write's body ran.
    private final class RunCounts: Sendable {
        let counts = Mutex([Int: Int]())
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
        try await gate.waitUntil("first write holds the writer") { gate.entered.withLock { $0 } }
        let results = try await withThrowingTaskGroup(of: (Int, Bool).self) { group in
            for id in 1...50 {
                group.addTask {
                    do {
                        // Writes 24 and 25 both insert row 24 on purpose: whichever the queue holds
                        // second fails and rolls back alone, nothing else does.
                        try await committer.write { db in try db.execute(sql: "INSERT INTO t (id) VALUES (?)", arguments: [id == 25 ? 24 : id]) }
                        return (id, true)
                    } catch {
                        return (id, false)
                    }
                }
            }
            try await gate.waitUntil("50 writes queued") { committer.queuedForTest == 50 }
            gate.release.signal()
            var results: [Int: Bool] = [:]
            for try await (id, ok) in group { results[id] = ok }
            return results
        }
        try await first
        let failed = results.filter { !$0.value }.map(\.key)
        #expect(failed == [24] || failed == [25])
        let count = try await queue.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM t") }
        #expect(count == 50)
        let counts = committer.counts
        #expect(counts.jobs == 51)
        #expect(counts.batches == 2, "the first write alone, then the 50 queued ones together")
    }

    @Test("a batch runs each write once unless one fails; then again, each alone, and only the committed run counts")
    func runsAgainIsolatedOnlyAfterAFailure() async throws {
        let queue = try queue()
        let committer = GroupCommitter(writer: queue)
        let runs = RunCounts()
        /// Queues writes of `ids` behind a held writer, so they share one batch; `failing` throws after inserting.
        func batch(_ ids: ClosedRange<Int>, failing: Int?) async throws -> [Int: Int64?] {
            let gate = Gate()
            async let hold: Void = committer.write { _ in
                gate.entered.withLock { $0 = true }
                gate.release.wait()
            }
            try await gate.waitUntil("the writer is held") { gate.entered.withLock { $0 } }
            let queuedBefore = committer.queuedForTest
            let results = try await withThrowingTaskGroup(of: (Int, Int64?).self) { group in
                for id in ids {
                    group.addTask {
                        let rowid = try? await committer.write { db -> Int64 in
                            runs.counts.withLock { $0[id, default: 0] += 1 }
                            try db.execute(sql: "INSERT INTO t (id) VALUES (?)", arguments: [id])
                            if id == failing { throw StoreError.conflict("write \(id) fails after its insert") }
                            return try Int64.fetchOne(db, sql: "SELECT COUNT(*) FROM t") ?? -1
                        }
                        return (id, rowid)
                    }
                }
                try await gate.waitUntil("the writes queued") { committer.queuedForTest == queuedBefore + ids.count }
                gate.release.signal()
                var results: [Int: Int64?] = [:]
                for try await (id, value) in group { results[id] = value }
                return results
            }
            try await hold
            return results
        }

        let clean = try await batch(1...20, failing: nil)
        #expect(clean.values.allSatisfy { $0 != nil })
        #expect(runs.counts.withLock { $0.values.allSatisfy { $0 == 1 } }, "a batch without failures ran a write twice")

        let mixed = try await batch(21...40, failing: 30)
        #expect(mixed[30] == .some(nil), "the failing write's caller sees its error")
        #expect(mixed.filter { $0.key != 30 }.values.allSatisfy { $0 != nil })
        let counted = runs.counts.withLock { $0 }
        #expect(counted[30] == 2, "the failing write ran once in the shared run and once alone")
        #expect((21...40).allSatisfy { [1, 2].contains(counted[$0] ?? 0) }, "the writes queued before the failing one ran again, the others once")
        // What the callers got is what committed: the counts each saw are those of the isolated run.
        let stored = try await queue.read { db in try Set(Int.fetchAll(db, sql: "SELECT id FROM t")) }
        #expect(stored == Set(1...40).subtracting([30]))
        let seen = mixed.compactMap { $0.value.flatMap { $0 } }
        #expect(Set(seen).count == seen.count && seen.max() == 39)
    }

    @Test("versions come from memory within a transaction, are saved before it commits, and are read afresh in the next")
    func versionsPerTransaction() async throws {
        let queue = try queue()
        try await queue.write { db in
            try db.execute(sql: "CREATE TABLE change_counter (id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL)")
            try db.execute(sql: "INSERT INTO change_counter (id, value) VALUES (1, 0)")
        }
        let counter = VersionCounter()
        let committer = GroupCommitter(writer: queue, counter: counter)
        let stored = { try await queue.read { db in try Int.fetchOne(db, sql: "SELECT value FROM change_counter") } }
        let first = try await committer.write { db in try (0..<3).map { _ in try counter.next(db) } }
        #expect(first == [1, 2, 3])
        #expect(try await stored() == 3)
        // A write that took a version and failed: its version is not handed out again.
        await #expect(throws: StoreError.self) {
            try await committer.write { db -> Int in
                _ = try counter.next(db)
                throw StoreError.conflict("fails after taking a version")
            }
        }
        let afterFailure = try await committer.write { db in try counter.next(db) }
        #expect(afterFailure > 3)
        // Someone else moved the counter between transactions: the next one reads it again.
        try await queue.write { db in try db.execute(sql: "UPDATE change_counter SET value = 100") }
        #expect(try await committer.write { db in try counter.next(db) } == 101)
        #expect(try await stored() == 101)
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
