import Foundation
import RMMTestSupport
import Synchronization
import Testing

@testable import RMMAgent

/// The agent's timers sleep until their next deadline and are woken early when an earlier one is
/// set; the reporter times a stalled consumer from the link's counters.
@Suite("Deadline wait")
struct DeadlineWaitTests {
    @Test("a wake ends a wait long before its deadline")
    func wakeEndsWait() async throws {
        let wait = DeadlineWait()
        let ended = Counter()
        let waiter = Task {
            await wait.wait(until: Date().addingTimeInterval(3600))
            ended.increment()
        }
        // The wake may come before or after the wait starts: neither loses it.
        wait.wake()
        try await waitUntil("the wait ended", timeout: .seconds(10)) { ended.value == 1 }
        waiter.cancel()
    }

    @Test("a wake while nobody waits is kept for the next wait, once")
    func wakeIsKept() async {
        let wait = DeadlineWait()
        wait.wake()
        wait.wake()
        let clock = ContinuousClock()
        let start = clock.now
        await wait.wait(until: Date().addingTimeInterval(3600))
        #expect(clock.now - start < .seconds(5))
        // Only one wake was kept: this wait runs to its (near) deadline.
        let second = clock.now
        await wait.wait(until: Date().addingTimeInterval(0.2))
        #expect(clock.now - second >= .milliseconds(150))
    }

    @Test("cancellation ends a wait")
    func cancellationEndsWait() async throws {
        let wait = DeadlineWait()
        let ended = Counter()
        let waiter = Task {
            await wait.wait(until: Date().addingTimeInterval(3600))
            ended.increment()
        }
        waiter.cancel()
        try await waitUntil("the cancelled wait ended", timeout: .seconds(10)) { ended.value == 1 }
    }

    @Test("a past deadline returns at once")
    func pastDeadline() async {
        let clock = ContinuousClock()
        let start = clock.now
        await DeadlineWait().wait(until: Date().addingTimeInterval(-1))
        #expect(clock.now - start < .seconds(1))
    }

    @Test("the consumer watch times waiting messages from the first sight, resets on progress and names its next check")
    func consumerWatch() {
        let t0 = Date(timeIntervalSince1970: 1_750_000_000)
        var watch = ConsumerWatch()
        #expect(watch.observe(received: 3, handled: 3, now: t0) == 0)
        #expect(watch.nextCheck(reportAfter: 2, watchdogSeconds: 10) == nil)
        // A message taken at t0+1 (the consumer wakes the reporter): the stall is timed from then,
        // not from the last look while idle.
        #expect(watch.observe(received: 4, handled: 3, now: t0.addingTimeInterval(1)) == 0)
        #expect(watch.nextCheck(reportAfter: 2, watchdogSeconds: 10) == t0.addingTimeInterval(3))
        #expect(watch.observe(received: 5, handled: 3, now: t0.addingTimeInterval(3.5)) == 2.5)
        watch.reportedStall = true
        #expect(watch.nextCheck(reportAfter: 2, watchdogSeconds: 10) == t0.addingTimeInterval(11))
        // Progress with more waiting starts the clock over (a busy consumer is not a stuck one).
        #expect(watch.observe(received: 6, handled: 4, now: t0.addingTimeInterval(4)) == 0)
        #expect(!watch.reportedStall)
        #expect(watch.observe(received: 6, handled: 6, now: t0.addingTimeInterval(5)) == 0)
        #expect(watch.pendingSince == nil)
    }
}

/// A count shared between a test and the task it starts.
private final class Counter: Sendable {
    private let box = Mutex(0)
    func increment() { box.withLock { $0 += 1 } }
    var value: Int { box.withLock { $0 } }
}
