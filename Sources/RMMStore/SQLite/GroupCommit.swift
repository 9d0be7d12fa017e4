import GRDB
import Synchronization

/// Group commit: writes that arrive while a transaction is being committed wait, and then share
/// the next transaction — one fsync for all of them instead of one each.
///
/// A write that throws rolls back alone and only its caller sees the error. A batch first runs
/// its writes one after another in the shared transaction; only if one throws is the transaction
/// rolled back and the batch run again with each write in its own savepoint (so the rest still
/// commit). Savepoints are not the default because SQLite copies every page a savepoint touches
/// into a statement journal first — in a busy fan-out that copying was most of the writer's work.
/// A write's body may therefore run twice; it must act only on the database (all of the store's
/// do), and only the run that commits counts. Every caller is resumed only after the shared
/// transaction committed (and, with `synchronous = FULL`, reached the disk), so nothing is
/// reported done before it is durable. With no concurrency a write commits at once; there is no
/// timer and no added delay.
final class GroupCommitter: Sendable {
    /// One caller's write: runs its body inside the shared transaction and keeps the outcome
    /// until the commit decides whether it stands.
    private final class Job: Sendable {
        /// Runs the body, alone in a savepoint when `isolated`, and keeps its outcome. Throws the
        /// body's error only when not isolated (the batch then starts again, isolated).
        let run: @Sendable (Database, _ isolated: Bool) throws -> Void
        let finish: @Sendable ((any Error)?) -> Void

        init(run: @escaping @Sendable (Database, Bool) throws -> Void, finish: @escaping @Sendable ((any Error)?) -> Void) {
            self.run = run
            self.finish = finish
        }
    }

    private struct State {
        var queue: [Job] = []
        var draining = false
        var batches = 0
        var jobs = 0
    }

    private let writer: any DatabaseWriter
    private let state = Mutex(State())
    /// Most writes one transaction takes; later ones wait for the next.
    private let maxBatch: Int
    /// The change counter the writes take versions from: read afresh in each transaction and
    /// saved just before it commits.
    private let counter: VersionCounter?
    /// Each committed transaction's duration goes here (the server's metrics).
    let timing = CommitTiming(backend: .sqlite)

    init(writer: any DatabaseWriter, maxBatch: Int = 2048, counter: VersionCounter? = nil) {
        self.writer = writer
        self.maxBatch = maxBatch
        self.counter = counter
    }

    /// Writes waiting for the next transaction (tests use it to line up a batch).
    var queuedForTest: Int { state.withLock { $0.queue.count } }

    /// Transactions committed and writes in them, since start (for tests and the benchmark).
    var counts: (batches: Int, jobs: Int) { state.withLock { ($0.batches, $0.jobs) } }

    /// Runs `body` in the next shared write transaction; returns once that transaction committed.
    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let outcome = Slot<Result<T, any Error>>()
            let job = Job(
                run: { db, isolated in
                    guard isolated else {
                        outcome.value = .success(try body(db))
                        return
                    }
                    let result: Result<T, any Error>
                    do {
                        result = .success(try Self.inSavepoint(db) { try body(db) })
                    } catch {
                        result = .failure(error)
                    }
                    outcome.value = result
                },
                finish: { commitError in
                    if let commitError {
                        continuation.resume(throwing: commitError)
                    } else if let result = outcome.value {
                        continuation.resume(with: result)
                    } else {
                        continuation.resume(throwing: StoreError.corrupt("a write was committed without running"))
                    }
                }
            )
            let start = state.withLock { state -> Bool in
                state.queue.append(job)
                guard !state.draining else { return false }
                state.draining = true
                return true
            }
            // The drain runs on the writer's own queue and resumes each caller from there: no task
            // to start and no hop back between the commit and the callers (each hop is a thread
            // wake-up, a measurable part of a command's round trip).
            if start { writer.asyncWriteWithoutTransaction { db in self.drain(db) } }
        }
    }

    /// Runs `body` in a savepoint of the shared transaction: if it throws, only its own changes
    /// roll back. Same effect as GRDB's `inSavepoint`, but through cached statements — compiling
    /// SAVEPOINT/RELEASE for every write was a measurable part of a fan-out.
    private static func inSavepoint<T>(_ db: Database, _ body: () throws -> T) throws -> T {
        try db.executeCached(sql: "SAVEPOINT gururmm_write", arguments: [])
        do {
            let value = try body()
            try db.executeCached(sql: "RELEASE SAVEPOINT gururmm_write", arguments: [])
            return value
        } catch {
            // If SQLite already rolled back the whole transaction there is no savepoint left; the
            // drain loop sees that and fails the batch.
            if db.isInsideTransaction {
                do {
                    try db.executeCached(sql: "ROLLBACK TO SAVEPOINT gururmm_write", arguments: [])
                    try db.executeCached(sql: "RELEASE SAVEPOINT gururmm_write", arguments: [])
                } catch {
                    // This write's changes could not be undone alone: undo the whole transaction,
                    // which the drain loop sees and reports to every write in it.
                    try? db.execute(sql: "ROLLBACK")
                }
            }
            throw error
        }
    }

    /// Commits batches until the queue is empty, on the writer's queue.
    private func drain(_ db: Database) {
        while true {
            let batch = state.withLock { state -> [Job] in
                let taken = Array(state.queue.prefix(maxBatch))
                state.queue.removeFirst(taken.count)
                if taken.isEmpty { state.draining = false }
                return taken
            }
            if batch.isEmpty { return }
            do {
                do {
                    try commit(batch, isolated: false, db)
                } catch is WriteFailed {
                    // One write threw: the whole transaction rolled back. Again, each write alone.
                    try commit(batch, isolated: true, db)
                }
                state.withLock {
                    $0.batches += 1
                    $0.jobs += batch.count
                }
                for job in batch { job.finish(nil) }
            } catch {
                // The shared commit failed: none of these writes happened, whatever each one returned.
                for job in batch { job.finish(error) }
            }
        }
    }

    /// A write's own error, ending a batch run without savepoints.
    private struct WriteFailed: Error {}

    /// Runs every write of `batch` in one transaction and commits it.
    private func commit(_ batch: [Job], isolated: Bool, _ db: Database) throws {
        counter?.reset()
        defer { counter?.reset() }
        let start = ContinuousClock.now
        try db.inTransaction(.immediate) {
            for job in batch {
                var failed = false
                do { try job.run(db, isolated) } catch { failed = true }
                // Some errors (disk full, I/O) make SQLite roll back the whole transaction, taking
                // the writes before this one with it: then none of them may be reported done (and
                // an isolated run would only meet the error again). It is the disk's state, not
                // the write's: unavailable, so callers retry (an agent's reports stay unacknowledged).
                if !db.isInsideTransaction { throw StoreError.unavailable("SQLite rolled back the shared transaction (disk full or I/O error)") }
                if failed { throw WriteFailed() }
            }
            try counter?.save(db)
            return .commit
        }
        // Only a transaction that committed is timed: a rolled-back one throws past this.
        timing.committed(since: start)
    }
}

/// A value set on the writer's thread and read after the commit: a lock makes the hand-over safe.
private final class Slot<T: Sendable>: Sendable {
    private let mutex = Mutex<T?>(nil)

    var value: T? {
        get { mutex.withLock { $0 } }
        set { mutex.withLock { $0 = newValue } }
    }
}
