import Foundation
import NIOCore
import NIOPosix
import Testing

@testable import RMMTransport

/// The long-poll downlink's waits: a frame, a close, or a server shutdown (`endWaits`) ends them.
@Suite struct DownlinkQueueTests {
    @Test("endWaits answers a pending poll at once, and later polls do not wait")
    func endWaitsAnswersPolls() async throws {
        let queues = DownlinkQueues()
        let queue = DownlinkQueue()
        queues.register("k1", queue)
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let clock = ContinuousClock()
        let start = clock.now
        let pending = queue.wait(after: 0, on: loop, timeout: .seconds(120))
        queues.endWaits()
        try await pending.get()
        try await queue.wait(after: 0, on: loop, timeout: .seconds(120)).get()
        #expect(clock.now - start < .seconds(60))
        #expect(!queue.isClosed, "the connection itself is not closed: its frames can still be fetched")
        queue.append(Data("x".utf8))
        #expect(queue.frames(after: 0).map(\.data) == [Data("x".utf8)])
    }

    @Test("a queue registered after endWaits does not wait either (a connection upgraded just before the shutdown)")
    func queueRegisteredAfterEndWaitsDoesNotWait() async throws {
        let queues = DownlinkQueues()
        queues.endWaits()
        let late = DownlinkQueue()
        queues.register("k2", late)
        let clock = ContinuousClock()
        let start = clock.now
        try await late.wait(after: 0, on: MultiThreadedEventLoopGroup.singleton.next(), timeout: .seconds(120)).get()
        #expect(clock.now - start < .seconds(60))
        #expect(queues.queue(for: "k2") === late)
    }
}
