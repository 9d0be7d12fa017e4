import Foundation
import RMMProtocol
import RMMStore
import RMMTestSupport
import Synchronization
import Testing

@testable import RMMServer

/// A batch's summary: its counts, and a long-poll that ends when the batch is done or the server stops.
@Suite struct BatchWaitServiceTests {
    @Test("the summary counts terminal and pending commands per state")
    func summaryView() {
        let counts: [CommandState: Int] = [.succeeded: 3, .failed: 1, .running: 2, .queued: 1]
        let view = BatchWaitService.view(batchId: "b1", counts: counts)
        #expect(view.total == 7)
        #expect(view.terminal == 4)
        #expect(!view.done)
        #expect(view.states == ["succeeded": 3, "failed": 1, "running": 2, "queued": 1])
        #expect(BatchWaitService.pending(counts) == 3)
        #expect(BatchWaitService.view(batchId: "b1", counts: [.succeeded: 2]).done)
    }

    @Test("an unknown batch is 404")
    func unknownBatch() async throws {
        let (store, _) = try await Fixture.store()
        let service = BatchWaitService(store: store, feed: ChangeFeed())
        await #expect(throws: RequestError.self) { _ = try await service.summary(batchId: "nope", wait: 0) }
    }

    @Test("a long-poll on an unfinished batch answers at once when the feed stops")
    func stopEndsTheWait() async throws {
        let (store, agents) = try await Fixture.store()
        let records = try await Fixture.insert(["c1"], agent: agents[0].id, into: store)
        let batchId = try #require(records.first?.batchId)
        let parked = Mutex(false)
        let feed = ChangeFeed(beforeParking: { _, _ in parked.withLock { $0 = true } })
        let service = BatchWaitService(store: store, feed: feed)
        let clock = ContinuousClock()
        let start = clock.now
        let waiting = Task { try await service.summary(batchId: batchId, wait: 60) }
        try await waitUntil("the long-poll waits on the feed") { parked.withLock { $0 } }
        feed.stop()
        let view = try await waiting.value
        #expect(clock.now - start < .seconds(30))
        #expect(!view.done)
        #expect(view.total == 1)
    }
}
