/// Runs `work` and returns its answer, or `late` once `deadline` passes first. `work` runs in a
/// task of its own and is cancelled when the deadline wins, but not awaited: a call to a database
/// that vanished may not end when cancelled, and the caller must not wait on it.
func firstAnswer<T: Sendable>(before deadline: ContinuousClock.Instant, late: T, _ work: @escaping @Sendable () async -> T) async -> T {
    let (answers, answer) = AsyncStream<T>.makeStream()
    let worker = Task { answer.yield(await work()) }
    let timer = Task {
        try? await Task.sleep(until: deadline, clock: ContinuousClock())
        answer.yield(late)
    }
    var iterator = answers.makeAsyncIterator()
    let first = await iterator.next() ?? late
    worker.cancel()
    timer.cancel()
    answer.finish()
    return first
}
