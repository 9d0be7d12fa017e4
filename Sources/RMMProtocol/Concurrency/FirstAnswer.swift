/// Where a race between work and its deadline stands when the deadline is looked at
/// (`firstAnswer(judge:_:)`).
public enum DeadlineCheck<T: Sendable>: Sendable {
    /// Not over: look again at this instant (the deadline may have moved since the last look).
    case lookAgain(at: ContinuousClock.Instant)
    /// Over: the race ends with this answer.
    case late(T)
}

/// Runs `work` and returns its answer, or `late` once `deadline` passes first. `work` runs in a
/// task of its own and is cancelled when the deadline wins, but not awaited: a call to a database
/// that vanished may not end when cancelled, and the caller must not wait on it.
public func firstAnswer<T: Sendable>(before deadline: ContinuousClock.Instant, late: T, _ work: sending @escaping () async -> T) async -> T {
    await firstAnswer(judge: { now in now < deadline ? .lookAgain(at: deadline) : .late(late) }, work) ?? late
}

/// Runs `work` and returns its answer, or what `judge` says once it says the deadline passed:
/// `judge` is asked at once and then at each instant it names, so a deadline may move while
/// `work` runs (a call waiting in a queue gets its own time once it starts). `work` runs in a task
/// of its own and is cancelled when the deadline wins, but not awaited (see above). Returns nil
/// if the calling task is cancelled first.
public func firstAnswer<T: Sendable>(judge: @escaping @Sendable (ContinuousClock.Instant) -> DeadlineCheck<T>,
                                     _ work: sending @escaping () async -> T) async -> T? {
    let (answers, answer) = AsyncStream<T>.makeStream()
    let worker = Task { answer.yield(await work()) }
    let timer = Task {
        let clock = ContinuousClock()
        while !Task.isCancelled {
            switch judge(clock.now) {
            case .late(let late):
                answer.yield(late)
                return
            case .lookAgain(let instant):
                try? await Task.sleep(until: instant, clock: clock)
            }
        }
    }
    var iterator = answers.makeAsyncIterator()
    let first = await iterator.next()
    worker.cancel()
    timer.cancel()
    answer.finish()
    return first
}
