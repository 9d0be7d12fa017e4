import Foundation
import RMMStore
import Synchronization
import Testing

@testable import RMMServer

@Suite("API token cache")
struct APITokenCacheTests {
    static let live = APITokenRecord(id: "tok_1", name: "on-call", role: "operator", createdAt: Date(timeIntervalSinceReferenceDate: 0))

    /// Counts store reads and answers with whatever `answer` holds.
    final class FakeStore: Sendable {
        let answer: Mutex<APITokenRecord?>
        let reads = Mutex(0)
        init(_ answer: APITokenRecord?) { self.answer = Mutex(answer) }
        func fetch(_ hash: String) -> APITokenRecord? {
            reads.withLock { $0 += 1 }
            return answer.withLock { $0 }
        }
        var readCount: Int { reads.withLock { $0 } }
    }

    @Test("a live token is read once, then served from the cache")
    func cachesLiveTokens() async throws {
        let cache = APITokenCache()
        let store = FakeStore(Self.live)
        for _ in 0..<3 {
            #expect(try await cache.token(hash: "h", fetch: { store.fetch($0) }) == Self.live)
        }
        #expect(store.readCount == 1)
    }

    @Test("unknown and revoked tokens are never cached")
    func neverCachesRefusals() async throws {
        let cache = APITokenCache()
        let unknown = FakeStore(nil)
        #expect(try await cache.token(hash: "h", fetch: { unknown.fetch($0) }) == nil)
        #expect(try await cache.token(hash: "h", fetch: { unknown.fetch($0) }) == nil)
        #expect(unknown.readCount == 2)
        var revoked = Self.live
        revoked.revokedAt = Date(timeIntervalSinceReferenceDate: 1)
        let store = FakeStore(revoked)
        #expect(try await cache.token(hash: "r", fetch: { store.fetch($0) }) == nil)
    }

    @Test("after invalidate the store is asked again, and a revoked token is refused at once")
    func invalidateForgets() async throws {
        let cache = APITokenCache()
        let store = FakeStore(Self.live)
        _ = try await cache.token(hash: "h", fetch: { store.fetch($0) })
        store.answer.withLock { $0 = nil }
        cache.invalidate()
        #expect(try await cache.token(hash: "h", fetch: { store.fetch($0) }) == nil)
        #expect(store.readCount == 2)
    }

    @Test("a lookup that raced with a revocation does not put its answer back")
    func raceWithRevocation() async throws {
        let cache = APITokenCache()
        let store = FakeStore(Self.live)
        // The read saw the token live; the revocation lands before the read's answer is cached.
        let first = try await cache.token(hash: "h", fetch: { hash in
            let record = store.fetch(hash)
            store.answer.withLock { $0 = nil }
            cache.invalidate()
            return record
        })
        #expect(first == Self.live, "the request that was already in flight passes, as it would without a cache")
        #expect(try await cache.token(hash: "h", fetch: { store.fetch($0) }) == nil)
    }

    @Test("entries age out after their lifetime")
    func entriesAgeOut() async throws {
        let cache = APITokenCache(lifetime: .zero)
        let store = FakeStore(Self.live)
        _ = try await cache.token(hash: "h", fetch: { store.fetch($0) })
        _ = try await cache.token(hash: "h", fetch: { store.fetch($0) })
        #expect(store.readCount == 2)
    }
}
