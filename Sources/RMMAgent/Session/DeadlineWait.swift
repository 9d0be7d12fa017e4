import Foundation
import Synchronization

/// A loop's sleep until its next deadline, ended early by `wake()` when something set an earlier
/// one (an ack owed, a new config, a message taken): the agent's timers wait exactly as long as
/// nothing is due, instead of polling. A wake that comes while nobody waits is kept for the next
/// wait, so none is lost between a loop's check and its sleep.
public final class DeadlineWait: Sendable {
    private struct State {
        var waiter: CheckedContinuation<Void, Never>?
        var woken = false
    }

    private let state = Mutex(State())

    public init() {}

    /// Ends the current wait, or the next one if nobody waits now.
    public func wake() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiter else {
                state.woken = true
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    /// Returns at `deadline`, on `wake()`, or when the task is cancelled, whichever is first.
    /// One waiter at a time.
    public func wait(until deadline: Date) async {
        let seconds = deadline.timeIntervalSinceNow
        if consumeWake() || !(seconds > 0) || Task.isCancelled { return }
        // Far deadlines (a distant-future "nothing due") are clamped: the loop looks again then.
        let clamped = min(seconds, 86_400)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: .milliseconds(Int64((clamped * 1000).rounded(.up)))) }
            group.addTask { await self.woken() }
            await group.next()
            group.cancelAll()
        }
    }

    private func consumeWake() -> Bool {
        state.withLock { state in
            defer { state.woken = false }
            return state.woken
        }
    }

    /// Suspends until `wake()` or cancellation.
    private func woken() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.woken {
                        state.woken = false
                        return true
                    }
                    if Task.isCancelled { return true }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
    }
}
