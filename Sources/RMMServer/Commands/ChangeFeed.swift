import Synchronization

/// Wakes API long-polls when any command changes; waiters then re-read the store.
///
/// A lock rather than an actor: every stored report bumps it (10,000 times in a 10,000-agent
/// fan-out), and as an actor each bump was a hop off the session's executor and back.
final class ChangeFeed: Sendable {
    private struct State {
        var version = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter = 0
        /// Waits that took an id but have not parked their continuation yet.
        var arriving: Set<Int> = []
        /// Of those, the ones whose timeout already fired: they must not park.
        var expired: Set<Int> = []
        /// Set once the server shuts down: no wait parks from then on.
        var stopped = false
    }

    private let state = Mutex(State())
    /// Told of every local bump (`ClusterFeedBridge` passes them to the other nodes); nil on one node.
    private let onBump = Mutex<BumpObserver?>(nil)
    /// The observer in a struct, never a bare closure in the `Mutex`: a function value read
    /// through `withLock`'s generic `inout` is re-abstracted and written back wrapped in two more
    /// thunks each time, so every bump ran a longer chain (20,000 frames deep after a 10,000
    /// command fan-out, which then took the node's whole CPU).
    private struct BumpObserver: Sendable {
        let call: @Sendable () -> Void
    }
    /// Runs just before a wait parks; tests use it to fire a timeout in the window that must
    /// not lose it.
    private let beforeParking: (@Sendable (ChangeFeed, Int) -> Void)?

    /// The longest one wait lasts before its waiter re-reads the store, bump or not: set where a
    /// committed change can become readable later than its bump (PostgreSQL's horizon waits for
    /// transactions no bump announces); nil where a bump always follows a readable change.
    private let maximumWait: Duration?

    init(maximumWait: Duration? = nil, beforeParking: (@Sendable (ChangeFeed, Int) -> Void)? = nil) {
        self.maximumWait = maximumWait
        self.beforeParking = beforeParking
    }

    /// Something changed on this node.
    func bump() {
        wake()
        if let observer = onBump.withLock({ $0 }) { observer.call() }
    }

    /// Something changed on another node: wakes the waiters here, and is not passed on again.
    func bumpFromElsewhere() {
        wake()
    }

    /// Calls `handler` after every local bump from now on.
    func observeBumps(_ handler: @escaping @Sendable () -> Void) {
        onBump.withLock { $0 = BumpObserver(call: handler) }
    }

    private func wake() {
        let woken = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.version += 1
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in woken { waiter.resume() }
    }

    var current: Int { state.withLock { $0.version } }

    /// True once `stop` was called: a long-poll answers with what it has instead of waiting on.
    var isStopped: Bool { state.withLock { $0.stopped } }

    /// The server is shutting down: wakes every waiter, and later waits return at once, so a
    /// long-poll ends promptly instead of holding the graceful stop for its `wait`.
    func stop() {
        let woken = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.stopped = true
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in woken { waiter.resume() }
    }

    /// Returns when `bump` is called after `seen`, after `timeout`, or when `stop` is called,
    /// whichever is first.
    func wait(after seen: Int, timeout requested: Duration) async {
        let timeout = maximumWait.map { min($0, requested) } ?? requested
        let id = state.withLock { state -> Int? in
            guard state.version == seen, !state.stopped else { return nil }
            defer { state.nextWaiter += 1 }
            state.arriving.insert(state.nextWaiter)
            return state.nextWaiter
        }
        guard let id else { return }
        let timer = Task { [weak self] in
            try? await Task.sleep(for: timeout)
            self?.release(id)
        }
        await withCheckedContinuation { continuation in
            beforeParking?(self, id)
            // A bump, or the timeout, between taking the id and here must not be missed: both are
            // looked at again under the lock before the continuation parks.
            let parked = state.withLock { state -> Bool in
                state.arriving.remove(id)
                let timedOut = state.expired.remove(id) != nil
                guard state.version == seen, !timedOut, !state.stopped else { return false }
                state.waiters[id] = continuation
                return true
            }
            if !parked { continuation.resume() }
        }
        timer.cancel()
    }

    /// The timeout of wait `id`: resumes it, or marks it expired if it has not parked yet.
    func release(_ id: Int) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let waiter = state.waiters.removeValue(forKey: id) { return waiter }
            if state.arriving.contains(id) { state.expired.insert(id) }
            return nil
        }
        waiter?.resume()
    }
}
