import Foundation
import RMMStore
import Synchronization
import Testing

/// The hook the server's store-commit histogram hangs on: each committed transaction is reported,
/// with its backend's name.
@Suite("Store commit timing")
struct CommitTimingTests {
    /// Keeps what it is told.
    final class Recorder: StoreCommitObserver {
        let seen = Mutex<[(StoreBackendName, Double)]>([])
        func committed(backend: StoreBackendName, seconds: Double) { seen.withLock { $0.append((backend, seconds)) } }
        var count: Int { seen.withLock { $0.count } }
    }

    @Test("each committed write is reported with its backend and a duration", arguments: StoreBackend.allCases)
    func commitsAreReported(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        defer { (store as? PostgresStore)?.close() }
        let timed = try #require(store as? any CommitTimedStore)
        let recorder = Recorder()
        timed.observeCommits(recorder)
        _ = try await store.createEnrollmentToken(hash: "tok", expiresAt: nil, uses: 1, now: Fixture.t0)
        let afterOne = recorder.count
        #expect(afterOne >= 1)
        _ = try await store.enrollAgent(tokenHash: "tok", publicKey: "k1", facts: Fixture.facts(), now: Fixture.t0)
        #expect(recorder.count > afterOne, "every committed write is reported")
        let expected: StoreBackendName = backend == .sqlite ? .sqlite : .postgresql
        #expect(recorder.seen.withLock { $0.allSatisfy { $0.0 == expected && $0.1 >= 0 && $0.1 < 60 } })
    }
}
