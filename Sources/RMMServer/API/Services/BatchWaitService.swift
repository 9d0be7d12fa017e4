import Foundation
import RMMAPI
import RMMProtocol
import RMMStore

/// A batch's summary, long-polled: `GET /batches/{id}?wait=S` holds the request until the batch
/// is done, `wait` passed, or the server shuts down (`ChangeFeed.stop`), then answers with the
/// counts it has.
struct BatchWaitService: Sendable {
    let store: any BatchStore
    let feed: ChangeFeed
    /// Commands from which a wait recounts only the unfinished ones on each wake-up.
    static let bigBatch = 1000

    /// The batch's counts after waiting up to `wait` seconds for it to be done; 404 for an unknown batch.
    func summary(batchId: String, wait: Double) async throws -> BatchSummaryView {
        let deadline = ContinuousClock.now + .milliseconds(Int(wait * 1000))
        var seen = feed.current
        var counts = try await store.batchStateCounts(batchId: batchId)
        if counts.isEmpty { throw RequestError(404, "batch \(batchId) not found") }
        let total = counts.values.reduce(0, +)
        var pending = Self.pending(counts)
        // While a big batch is waited for, each wake-up counts only its unfinished commands (an
        // index of just those); the full per-state count, which reads the whole batch, is taken
        // once more for the answer. A small batch is counted in full each time: as cheap, and one
        // read instead of two on an operator's round trip.
        let big = total >= Self.bigBatch
        while pending > 0 && !feed.isStopped {
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else { break }
            await feed.wait(after: seen, timeout: remaining)
            // A big fan-out bumps the feed once per result: recount at most every 20 ms, not per bump.
            if big && !feed.isStopped { try? await Task.sleep(for: .milliseconds(20)) }
            seen = feed.current
            if big {
                pending = try await store.batchPendingCount(batchId: batchId)
                if pending == 0 || deadline <= ContinuousClock.now || feed.isStopped { counts = try await store.batchStateCounts(batchId: batchId) }
            } else {
                counts = try await store.batchStateCounts(batchId: batchId)
                pending = Self.pending(counts)
            }
        }
        return Self.view(batchId: batchId, counts: counts)
    }

    /// Commands not yet in a terminal state.
    static func pending(_ counts: [CommandState: Int]) -> Int {
        counts.filter { !$0.key.isTerminal }.values.reduce(0, +)
    }

    /// The summary of a batch with these per-state counts.
    static func view(batchId: String, counts: [CommandState: Int]) -> BatchSummaryView {
        let total = counts.values.reduce(0, +)
        let terminal = counts.filter { $0.key.isTerminal }.values.reduce(0, +)
        return BatchSummaryView(batchId: batchId, total: total, terminal: terminal, done: terminal == total,
                                states: Dictionary(uniqueKeysWithValues: counts.map { ($0.key.rawValue, $0.value) }))
    }
}
