/// Runs asynchronous sections one at a time, in the order they arrive. An actor alone would not:
/// a section that awaits lets the next one in.
actor SerialSections {
    private var busy = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    /// Runs `body` once every section that arrived before it has ended.
    func run<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        if busy {
            await withCheckedContinuation { waiting.append($0) }
        } else {
            busy = true
        }
        defer {
            // The next section inherits `busy`; the last one clears it.
            if waiting.isEmpty { busy = false } else { waiting.removeFirst().resume() }
        }
        return try await body()
    }
}
