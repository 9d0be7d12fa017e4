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
    }

    private let state = Mutex(State())

    /// Something changed.
    func bump() {
        let woken = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.version += 1
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in woken { waiter.resume() }
    }

    var current: Int { state.withLock { $0.version } }

    /// Returns when `bump` is called after `seen`, or after `timeout`, whichever is first.
    func wait(after seen: Int, timeout: Duration) async {
        let id = state.withLock { state -> Int? in
            guard state.version == seen else { return nil }
            defer { state.nextWaiter += 1 }
            return state.nextWaiter
        }
        guard let id else { return }
        let timer = Task { [weak self] in
            try? await Task.sleep(for: timeout)
            self?.release(id)
        }
        await withCheckedContinuation { continuation in
            // A bump between the check above and here must not be missed: look again under the lock.
            let registered = state.withLock { state -> Bool in
                guard state.version == seen else { return false }
                state.waiters[id] = continuation
                return true
            }
            if !registered { continuation.resume() }
        }
        timer.cancel()
    }

    private func release(_ id: Int) {
        state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
    }
}
