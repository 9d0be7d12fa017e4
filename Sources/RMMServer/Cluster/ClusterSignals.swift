/// How a node tells the others what it changed, and hears what they changed. Publish only after
/// the change committed; a signal is a hint (see `ClusterSignal`), so publishing never fails.
protocol ClusterSignals: Sendable {
    /// Whether signals reach other nodes. False on one node (`LocalSignals`): then the server
    /// skips everything that exists only for other nodes, and pays nothing for it.
    var crossesNodes: Bool { get }
    /// Sends `signal` to the other nodes.
    func publish(_ signal: ClusterSignal) async
    /// The signals from other nodes, with `.rescan` after any gap; for one consumer (`ClusterRelay`).
    func incoming() -> AsyncStream<ClusterSignal>
    /// Keeps the connection that brings signals in, until the task is cancelled.
    func run() async
}

/// One node alone: a signal is delivered to itself, where every action already happened locally.
final class LocalSignals: ClusterSignals {
    private let stream: AsyncStream<ClusterSignal>
    private let continuation: AsyncStream<ClusterSignal>.Continuation

    init() {
        (stream, continuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1_024))
    }

    var crossesNodes: Bool { false }

    func publish(_ signal: ClusterSignal) async {
        continuation.yield(signal)
    }

    func incoming() -> AsyncStream<ClusterSignal> { stream }

    func run() async {}
}
