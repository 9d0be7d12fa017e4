import Foundation
import RMMStore
import Synchronization

/// Live API tokens recently looked up, by the SHA-256 of their secret, so an operator request
/// does not read the store before it can start (a read was ~0.3 ms of a command's round trip).
///
/// Revocation wins at once: a revoke through this server empties the cache after its write, and
/// a lookup that raced with it does not put its (possibly stale) answer back (generation check).
/// Entries also age out after `lifetime`, the most a change made by another process (nothing
/// else is meant to write the tokens, but a hand edit could) takes to be seen. Unknown secrets
/// are never cached: those go to the store each time, and to the failure limiter.
final class APITokenCache: Sendable {
    private struct State {
        var entries: [String: (record: APITokenRecord, fetched: ContinuousClock.Instant)] = [:]
        var generation = 0
    }

    private let state = Mutex(State())
    private let lifetime: Duration
    /// Most tokens kept; a server has a handful, so reaching this means churn: start afresh.
    private let capacity = 1024

    init(lifetime: Duration = .seconds(5)) {
        self.lifetime = lifetime
    }

    /// The live token with this hash: from the cache while fresh, else from `fetch`.
    func token(hash: String, fetch: (String) async throws -> APITokenRecord?) async throws -> APITokenRecord? {
        let now = ContinuousClock.now
        let (cached, generation) = state.withLock { state in
            (state.entries[hash].flatMap { now - $0.fetched < lifetime ? $0.record : nil }, state.generation)
        }
        if let cached { return cached }
        guard let record = try await fetch(hash), record.revokedAt == nil else { return nil }
        state.withLock { state in
            guard state.generation == generation else { return }
            if state.entries.count >= capacity { state.entries.removeAll() }
            state.entries[hash] = (record, now)
        }
        return record
    }

    /// Forgets every token: call after a revocation is stored.
    func invalidate() {
        state.withLock { state in
            state.entries.removeAll()
            state.generation += 1
        }
    }
}
