import Foundation
import Synchronization

/// Group commit on PostgreSQL: writes that arrive while the writers are busy wait, and then share
/// one round trip, one commit and one WAL flush (`GroupQueue` decides which). A lone write goes
/// at once, as if there were no group.
///
/// Why: a small write is a few microseconds of PostgreSQL's work, but a call of its own costs
/// round trips, a commit and a flush to disk. A reconnecting fleet (each agent's ack, start and
/// result, each node's signal that it took the agent) or a fan-out's results arrive by the
/// thousand; SQLite groups its writes (`GroupCommitter`), and so does this.
///
/// Every caller is resumed only after the call that carried its item returned, with its own
/// result: `commit` answers each item of a batch, in order.
final class PostgresGroupWriter<Item: Sendable, Output: Sendable>: Sendable {
    /// Writes the items of one batch; answers each, in order.
    typealias Commit = @Sendable ([Item]) async -> [Result<Output, any Error>]

    private struct Job: Sendable {
        let item: Item
        let continuation: CheckedContinuation<Output, any Error>
    }

    private let queue: Mutex<GroupQueue<Job>>
    private let tally = Mutex((batches: 0, items: 0))

    /// At most `lanes` batches at once, each of at most `maxJobs` items and `maxBytes` (one
    /// larger item still goes, alone).
    init(lanes: Int, maxJobs: Int = 512, maxBytes: Int = 4 << 20) {
        queue = Mutex(GroupQueue(lanes: lanes, maxJobs: maxJobs, maxBytes: maxBytes))
    }

    /// Batches written (or failed) and the items they carried, since start.
    var counts: (batches: Int, items: Int) { tally.withLock { $0 } }

    /// Items waiting for a lane (tests use it to line up a batch).
    var waitingForTest: Int { queue.withLock { $0.waitingCount } }

    /// Writes `item` (about `bytes` large) in the next batch; returns its result once that batch's
    /// call returned. A batch is written by whichever `commit` the call that started its writer gave.
    func submit(_ item: Item, bytes: Int = 0, commit: @escaping Commit) async throws -> Output {
        try await withCheckedThrowingContinuation { continuation in
            let start = queue.withLock { $0.add(Job(item: item, continuation: continuation), bytes: bytes) }
            // The writer runs in a task of its own: it outlives this caller's wait and takes
            // whatever queued meanwhile, with no lane held by a caller that went away. It writes
            // for everyone queued, so on the agents' pool whoever started it (a task inherits
            // its creator's `StoreLane`, and an operator's call must not carry agents' writes).
            if start { Task { await StoreLane.$current.withValue(.agents) { await self.drain(commit) } } }
        }
    }

    /// Writes batches until none wait.
    private func drain(_ commit: Commit) async {
        while true {
            let batch = queue.withLock { $0.take() }
            if batch.isEmpty { return }
            let results = await commit(batch.map(\.item))
            tally.withLock {
                $0.batches += 1
                $0.items += batch.count
            }
            for (index, job) in batch.enumerated() {
                job.continuation.resume(with: index < results.count ? results[index] : .failure(StoreError.corrupt("a grouped write returned no result")))
            }
        }
    }
}
