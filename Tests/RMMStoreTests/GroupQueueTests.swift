import Testing
@testable import RMMStore

/// `GroupQueue`: which writes share a transaction, and how many transactions run.
@Suite struct GroupQueueTests {
    @Test("a write with a lane free starts a writer at once and goes alone")
    func loneWriteStartsAtOnce() {
        let queue = Box(lanes: 2, maxJobs: 10, maxBytes: 100)
        #expect(queue.add(1, bytes: 0))
        #expect(queue.take() == [1])
        #expect(queue.take() == [])
        #expect(queue.running == 0)
    }

    @Test("writes that arrive while every lane is busy wait and share the next transaction, oldest first")
    func busyLanesGroupWrites() {
        let queue = Box(lanes: 2, maxJobs: 10, maxBytes: 100)
        #expect(queue.add(1, bytes: 0))
        #expect(queue.take() == [1])
        #expect(queue.add(2, bytes: 0))
        #expect(queue.take() == [2])
        // Both lanes are writing: these wait, and do not start a writer.
        for job in 3...7 { #expect(!queue.add(job, bytes: 0)) }
        #expect(queue.running == 2 && queue.waitingCount == 5)
        #expect(queue.take() == [3, 4, 5, 6, 7])
        #expect(queue.take() == [])
        #expect(queue.take() == [])
        #expect(queue.running == 0)
        // Free again: the next write starts a writer of its own.
        #expect(queue.add(8, bytes: 0))
    }

    @Test("a transaction takes at most maxJobs writes and maxBytes of output, yet a larger write still goes alone")
    func batchesAreBounded() {
        let queue = Box(lanes: 1, maxJobs: 3, maxBytes: 100)
        #expect(queue.add(0, bytes: 0))
        for job in 1...5 { #expect(!queue.add(job, bytes: 10)) }
        #expect(!queue.add(6, bytes: 500))
        #expect(!queue.add(7, bytes: 60))
        #expect(!queue.add(8, bytes: 60))
        #expect(queue.take() == [0, 1, 2])
        #expect(queue.take() == [3, 4, 5])
        #expect(queue.take() == [6])
        #expect(queue.take() == [7])
        #expect(queue.take() == [8])
        #expect(queue.take() == [])
        #expect(queue.running == 0 && queue.waitingCount == 0)
    }

    @Test("out-of-range settings are clamped to one")
    func settingsClamped() {
        let queue = Box(lanes: 0, maxJobs: -1, maxBytes: 0)
        #expect(queue.add(1, bytes: -5))
        #expect(!queue.add(2, bytes: 0))
        #expect(queue.take() == [1])
        #expect(queue.take() == [2])
    }

    @Test("a long queue drained in many takes keeps every write once, in order")
    func longQueueKeepsOrder() {
        let queue = Box(lanes: 1, maxJobs: 7, maxBytes: 1_000)
        #expect(queue.add(-1, bytes: 0))
        for job in 0..<5_000 { #expect(!queue.add(job, bytes: 1)) }
        var seen: [Int] = []
        while true {
            let batch = queue.take()
            if batch.isEmpty { break }
            seen += batch
        }
        #expect(seen == [-1] + Array(0..<5_000))
    }

    /// The queue behind a reference, so each call reads as one expectation.
    private final class Box {
        private var queue: GroupQueue<Int>
        init(lanes: Int, maxJobs: Int, maxBytes: Int) { queue = GroupQueue(lanes: lanes, maxJobs: maxJobs, maxBytes: maxBytes) }
        var running: Int { queue.running }
        var waitingCount: Int { queue.waitingCount }
        func add(_ job: Int, bytes: Int) -> Bool { queue.add(job, bytes: bytes) }
        func take() -> [Int] { queue.take() }
    }
}
