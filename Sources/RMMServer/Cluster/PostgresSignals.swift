import Foundation
import Logging
import RMMStore
import Synchronization

/// Signals over PostgreSQL's LISTEN/NOTIFY: published with `pg_notify` on a pooled connection,
/// heard on a dedicated one (`PostgresListener`, which reconnects by itself; each reconnect is
/// a `.rescan`). Every payload is decoded by `ClusterSignalCodec`; one that fails is dropped and
/// counted, and only the reason it failed is logged.
final class PostgresSignals: ClusterSignals {
    private let store: PostgresStore
    private let listener: PostgresListener
    /// This process's id in payloads: a node drops the signals it sent itself.
    let node: String
    private let logger: Logger
    private let stream: AsyncStream<ClusterSignal>
    private let continuation: AsyncStream<ClusterSignal>.Continuation
    /// Payloads refused so far: the first and every 1,000th is logged (a flood must not flood the log).
    private let refused = Mutex(0)

    init(store: PostgresStore, listener: PostgresListener, logger: Logger) {
        self.store = store
        self.listener = listener
        self.node = CommandService.newId(prefix: "n_")
        self.logger = logger
        (stream, continuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(4_096))
    }

    var crossesNodes: Bool { true }

    func publish(_ signal: ClusterSignal) async {
        guard let payload = ClusterSignalCodec.encode(signal, node: node) else { return }
        do {
            try await store.notify(payload)
        } catch {
            // A hint: the other nodes' sweep finds the work within its interval.
            logger.warning("could not publish a cluster signal: \(error)")
        }
    }

    func incoming() -> AsyncStream<ClusterSignal> { stream }

    func run() async {
        let (events, sink) = AsyncStream<PostgresListener.Event>.makeStream(bufferingPolicy: .bufferingNewest(4_096))
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.listener.run(into: sink) }
            group.addTask {
                for await event in events { self.receive(event) }
            }
            await group.waitForAll()
        }
    }

    /// One event from the listener, as a signal for the relay (or nothing).
    func receive(_ event: PostgresListener.Event) {
        switch event {
        case .gap:
            continuation.yield(.rescan)
        case .payload(let payload):
            switch ClusterSignalCodec.decode(payload) {
            case .success(let decoded):
                // A full buffer drops the oldest signal: what it said is then found by a rescan.
                if decoded.node != node, case .dropped = continuation.yield(decoded.signal) { continuation.yield(.rescan) }
            case .failure(let refusal):
                let count = refused.withLock { count in
                    count += 1
                    return count
                }
                if count % 1_000 == 1 { logger.warning("dropped a cluster signal (\(count) so far): \(refusal)") }
            }
        }
    }
}
