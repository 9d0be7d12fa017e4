/// Wakes API long-polls when any command changes; waiters then re-read the store.
actor ChangeFeed {
    private var version = 0
    private var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    private var nextWaiter = 0

    /// Something changed.
    func bump() {
        version += 1
        let current = waiters
        waiters.removeAll()
        for (_, waiter) in current { waiter.resume() }
    }

    var current: Int { version }

    /// Returns when `bump` is called after `seen`, or after `timeout`, whichever is first.
    func wait(after seen: Int, timeout: Duration) async {
        if version != seen { return }
        let id = nextWaiter
        nextWaiter += 1
        let timer = Task { [weak self] in
            try? await Task.sleep(for: timeout)
            await self?.release(id)
        }
        await withCheckedContinuation { continuation in
            waiters[id] = continuation
        }
        timer.cancel()
    }

    private func release(_ id: Int) {
        waiters.removeValue(forKey: id)?.resume()
    }
}
