import Synchronization

/// Connects stop requests (timeout, cancel, shutdown) with the process group of one running command.
///
/// A request may arrive before the process exists or after it exited; the switch remembers the first
/// cause and signals the group only while it is known to belong to this command.
final class StopSwitch: Sendable {
    private struct State {
        var leader: Int32?
        var cause: StopCause?
        /// Set once the leader has been reaped: its pid may be reused, so no more signals.
        var done = false
    }

    private let state = Mutex(State())
    private let platform: any CommandPlatform
    /// Yields once, on the first stop request, to wake the escalation task.
    let requests: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    init(platform: any CommandPlatform) {
        self.platform = platform
        (requests, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Records the first cause and asks the group to terminate; later requests are ignored.
    func request(_ cause: StopCause) {
        let leader: Int32? = state.withLock { state in
            guard state.cause == nil, !state.done else { return nil }
            state.cause = cause
            return state.leader ?? -1
        }
        guard let leader else { return }
        if leader > 0 { platform.stopProcessGroup(leader: leader, how: .terminate) }
        continuation.yield()
        continuation.finish()
    }

    /// The process now exists; if a stop was requested before, it is terminated at once.
    func attach(leader: Int32) {
        let stopNow = state.withLock { state in
            state.leader = leader
            return state.cause != nil
        }
        if stopNow { platform.stopProcessGroup(leader: leader, how: .terminate) }
    }

    /// SIGKILL the group if a stop was requested: the escalation step, and the sweep for stragglers
    /// (a grandchild that ignored SIGTERM outlives the shell).
    func killIfStopping() {
        state.withLock { state in
            guard state.cause != nil, !state.done, let leader = state.leader else { return }
            // Under the lock so `markDone` cannot slip in between the check and the kill.
            platform.stopProcessGroup(leader: leader, how: .kill)
        }
    }

    /// The leader was reaped; nothing may be signalled through this switch any more, and later
    /// requests no longer change the outcome. Returns the stop cause that applies to the result.
    @discardableResult
    func markDone() -> StopCause? {
        let cause = state.withLock { state in
            state.done = true
            return state.cause
        }
        continuation.finish()
        return cause
    }
}
