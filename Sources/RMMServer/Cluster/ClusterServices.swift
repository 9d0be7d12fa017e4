import Foundation
import Logging
import RMMStore
import ServiceLifecycle
import Synchronization

/// A node's cluster side as a `Service`: the connection signals come in on, and the relay that
/// applies them and sweeps. Only a node whose signals cross nodes runs it.
struct ClusterRelayService: Service, CustomStringConvertible {
    var description: String { "cluster relay" }
    let signals: any ClusterSignals
    let relay: ClusterRelay
    let sweepInterval: Double

    func run() async {
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await signals.run() }
                group.addTask { await relay.run(signals: signals, sweepInterval: sweepInterval) }
                await group.waitForAll()
            }
        }
    }
}

/// Passes this node's command changes to the other nodes as `batchChanged`, at most one signal
/// in flight and paced (`SignalPacing`): a fan-out's thousands of bumps become at most a few
/// hundred signals a second, while a lone command's changes go at once.
final class ClusterFeedBridge: Sendable {
    private let signals: any ClusterSignals
    private enum Publishing: Sendable { case idle, publishing, publishingAndBumped }
    private let pending = Mutex(Publishing.idle)
    private let pacing: Mutex<SignalPacing>

    init(signals: any ClusterSignals, pacing: SignalPacing = SignalPacing()) {
        self.signals = signals
        self.pacing = Mutex(pacing)
    }

    /// Wires `feed`'s local bumps to the other nodes.
    func attach(to feed: ChangeFeed) {
        feed.observeBumps { [self] in bumped() }
    }

    func bumped() {
        let start = pending.withLock { state -> Bool in
            switch state {
            case .idle:
                state = .publishing
                return true
            case .publishing, .publishingAndBumped:
                state = .publishingAndBumped
                return false
            }
        }
        guard start else { return }
        Task {
            // One publish at a time: bumps during it ask for one more, sent when it returns.
            let clock = ContinuousClock()
            while true {
                pending.withLock { $0 = .publishing }
                let wait = pacing.withLock { $0.take(now: clock.now) }
                if wait > .zero { try? await clock.sleep(for: wait) }
                await signals.publish(.batchChanged(batchId: nil))
                let again = pending.withLock { state -> Bool in
                    if state == .publishingAndBumped { return true }
                    state = .idle
                    return false
                }
                if !again { break }
            }
        }
    }
}

extension GuruServer {
    /// The cluster's services of a node whose signals cross nodes (none on one node alone, which
    /// then pays nothing for them), and the bridge of its long-poll wake-ups to the others.
    static func clusterServices(registry: SessionRegistry, store: any Store, feed: ChangeFeed, settings: ServerSettings, logger: Logger) -> [any Service] {
        guard registry.clustered else { return [] }
        ClusterFeedBridge(signals: registry.signals).attach(to: feed)
        let relay = ClusterRelay(registry: registry, store: store, feed: feed, logger: logger)
        return [ClusterRelayService(signals: registry.signals, relay: relay, sweepInterval: settings.clusterSweepInterval)]
    }
}
