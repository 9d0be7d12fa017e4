import Synchronization

/// An async counting semaphore with FIFO waiters: bounds how many connections are being opened
/// and authenticated at once. Waiting suspends the task (no thread is held) and ends with
/// `CancellationError` when the task is cancelled.
final class ConnectGate: Sendable {
    private struct State {
        var available: Int
        var waiters: [UInt64: CheckedContinuation<Void, any Error>] = [:]
        /// Arrival order of the waiters; ids already gone (cancelled) are skipped.
        var order: [UInt64] = []
        var head = 0
        var nextId: UInt64 = 0

        /// The oldest waiter still waiting, removed.
        mutating func popFirst() -> CheckedContinuation<Void, any Error>? {
            while head < order.count {
                let id = order[head]
                head += 1
                if let waiter = waiters.removeValue(forKey: id) {
                    compact()
                    return waiter
                }
            }
            compact()
            return nil
        }

        private mutating func compact() {
            if head > 1024 && head * 2 > order.count {
                order.removeFirst(head)
                head = 0
            }
        }
    }

    private let state: Mutex<State>

    init(slots: Int) {
        state = Mutex(State(available: max(1, slots)))
    }

    /// Takes a slot, waiting for one if none is free.
    func acquire() async throws {
        let id = state.withLock { state -> UInt64? in
            if state.available > 0 {
                state.available -= 1
                return nil
            }
            state.nextId += 1
            return state.nextId
        }
        guard let id else { return }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let outcome = state.withLock { state -> Result<Bool, CancellationError> in
                    // A slot freed meanwhile, or the task was cancelled before it could wait
                    // (onCancel runs after the flag is set, so one of the two sees it).
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if state.available > 0 {
                        state.available -= 1
                        return .success(true)
                    }
                    state.waiters[id] = continuation
                    state.order.append(id)
                    return .success(false)
                }
                switch outcome {
                case .success(true): continuation.resume()
                case .success(false): break
                case .failure(let error): continuation.resume(throwing: error)
                }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume(throwing: CancellationError())
        }
    }

    /// Tasks waiting for a slot now.
    var waiting: Int {
        state.withLock { $0.waiters.count }
    }

    /// Gives a slot back (to the oldest waiter, if any).
    func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            if let waiter = state.popFirst() { return waiter }
            state.available += 1
            return nil
        }
        next?.resume()
    }
}
