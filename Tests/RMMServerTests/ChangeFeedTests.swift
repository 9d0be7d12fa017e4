import Synchronization
import Testing

@testable import RMMServer

/// The long-polls' wake-up: a bump (or a stop) wakes every waiter, a waiter that is already behind returns at
/// once, and a wait without a bump ends at its timeout.
@Suite struct ChangeFeedTests {
    /// Starts `waiters` waits after `seen` and calls `poke` until every one has returned: whether
    /// each registered before or after a poke, it must return (a lost wake-up would hold the
    /// group for the full two minutes).
    private func everyWaiterReturns(_ feed: ChangeFeed, waiters: Int, after seen: Int, poke: @escaping @Sendable () -> Void) async {
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<waiters { group.addTask { await feed.wait(after: seen, timeout: .seconds(120)) } }
            group.addTask {
                while !Task.isCancelled {
                    poke()
                    await Task.yield()
                }
            }
            for _ in 0..<waiters { await group.next() }
            group.cancelAll()
        }
    }

    @Test func aBumpWakesEveryWaiter() async {
        let feed = ChangeFeed()
        let seen = feed.current
        let clock = ContinuousClock()
        let start = clock.now
        await everyWaiterReturns(feed, waiters: 20, after: seen) { feed.bump() }
        #expect(clock.now - start < .seconds(60))
        #expect(feed.current > seen)
    }

    @Test func aWaiterBehindReturnsAtOnceAndAQuietWaitTimesOut() async {
        let feed = ChangeFeed()
        let seen = feed.current
        feed.bump()
        let clock = ContinuousClock()
        let start = clock.now
        await feed.wait(after: seen, timeout: .seconds(120))
        #expect(clock.now - start < .seconds(60))
        let quiet = clock.now
        await feed.wait(after: feed.current, timeout: .milliseconds(50))
        #expect(clock.now - quiet >= .milliseconds(50))
    }

    @Test("a timeout that fires before the wait parks still ends it")
    func aTimeoutBeforeParkingIsNotLost() async {
        // Each wait's timeout fires in the window between taking its id and parking.
        let feed = ChangeFeed(beforeParking: { feed, id in feed.release(id) })
        // A lost timeout holds its wait for its full 120 s; the watchdog's bump ends it sooner, so
        // the test fails instead of hanging. What is judged is whether the bump was needed, never
        // how long the waits took: on a loaded machine elapsed time says nothing about the feed.
        let watchdog = Task {
            try? await Task.sleep(for: .seconds(60))
            feed.bump()
        }
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<20 { group.addTask { await feed.wait(after: 0, timeout: .seconds(120)) } }
        }
        watchdog.cancel()
        #expect(feed.current == 0, "a wait ended only by the watchdog's bump: its timeout was lost")
    }

    @Test("stop wakes a parked waiter and later waits return at once")
    func stopEndsEveryWait() async {
        let feed = ChangeFeed()
        let seen = feed.current
        let clock = ContinuousClock()
        let start = clock.now
        await everyWaiterReturns(feed, waiters: 5, after: seen) { feed.stop() }
        #expect(feed.isStopped)
        let later = clock.now
        await feed.wait(after: feed.current, timeout: .seconds(120))
        #expect(clock.now - start < .seconds(60))
        #expect(clock.now - later < .seconds(10))
        #expect(feed.current == seen, "a stop is not a change")
    }

    @Test("the bump observer runs at the same depth however many bumps came before (100,000 bumps, each observed once)")
    func observerDoesNotGrowWithBumps() {
        // A closure kept bare in the feed's Mutex came back wrapped in two more thunks at each
        // read: by the 100,000th bump, a call 200,000 frames deep, past any thread's stack.
        let feed = ChangeFeed()
        let calls = Mutex(0)
        feed.observeBumps { calls.withLock { $0 += 1 } }
        for _ in 0..<100_000 { feed.bump() }
        #expect(calls.withLock { $0 } == 100_000)
        #expect(feed.current == 100_000)
    }
}

