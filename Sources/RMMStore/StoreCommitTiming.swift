import Synchronization

/// Told how long each committed store transaction took (the server's metrics use it). Called on
/// the committing thread or task right after the commit: it must be cheap and must not block.
public protocol StoreCommitObserver: Sendable {
    /// One transaction of `backend` committed `seconds` after it began.
    func committed(backend: StoreBackendName, seconds: Double)
}

/// Which store implementation committed: a fixed set, fit for a metric's label.
public enum StoreBackendName: String, Sendable, CaseIterable {
    case sqlite
    case postgresql
}

/// A store whose commits can be timed: both backends are. A protocol of its own, so `Store`'s
/// other conformers (test doubles) need not time anything.
public protocol CommitTimedStore: AnyObject, Sendable {
    /// Has every later commit reported to `observer` (replacing any earlier one).
    func observeCommits(_ observer: any StoreCommitObserver)
}

/// Where a store keeps its commit observer. Read once per commit: an uncontended lock next to a
/// transaction's round trip or fsync, and none at all for the heartbeats that commit nothing.
final class CommitTiming: Sendable {
    private let observer = Mutex<(any StoreCommitObserver)?>(nil)
    let backend: StoreBackendName

    init(backend: StoreBackendName) {
        self.backend = backend
    }

    func set(_ observer: any StoreCommitObserver) {
        self.observer.withLock { $0 = observer }
    }

    /// Reports a commit that began at `start`.
    func committed(since start: ContinuousClock.Instant) {
        guard let observer = observer.withLock({ $0 }) else { return }
        let elapsed = ContinuousClock.now - start
        observer.committed(backend: backend, seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }
}
