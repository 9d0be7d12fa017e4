import Logging
import RMMStore
import Synchronization

/// This node's view of the other live nodes for long-poll forwarding (`PollPeerTable`), read from
/// the node leases when a poll names a tag it does not know. Reads are coalesced and at most
/// one per `minimumInterval`, so polls with made-up tags cannot load the database.
final class PollPeers: Sendable {
    let ownTag: String
    private let store: (any ClusterStore)?
    private let logger: Logger
    private let minimumInterval: Duration
    private let table = Mutex(PollPeerTable())
    private let reading = Mutex<(task: Task<Void, Never>?, lastStart: ContinuousClock.Instant?)>((nil, nil))

    /// `store` nil: a single node, which has no peers.
    init(ownTag: String, store: (any ClusterStore)?, logger: Logger, minimumInterval: Duration = .milliseconds(200)) {
        self.ownTag = ownTag
        self.store = store
        self.logger = logger
        self.minimumInterval = minimumInterval
    }

    var current: PollPeerTable { table.withLock { $0 } }

    /// Reads the node list again (or joins a read in flight); returns when the table is as fresh
    /// as that read made it. A failed read keeps the last table.
    func lookUp() async {
        await startLookUp()?.value
    }

    /// The read `lookUp` waits for: the one in flight, or a new one; nil without a store.
    func startLookUp() -> Task<Void, Never>? {
        guard let store else { return nil }
        return reading.withLock { state -> Task<Void, Never> in
            if let task = state.task { return task }
            let now = ContinuousClock.now
            let delay = state.lastStart.map { max(.zero, $0 + minimumInterval - now) } ?? .zero
            let task = Task { [self] in
                if delay > .zero { try? await Task.sleep(for: delay) }
                reading.withLock { $0.lastStart = ContinuousClock.now }
                do {
                    let peers = try await store.nodePeers()
                    let fresh = PollPeerTable(peers: peers.map { ($0.instance, $0.peerUrl) }, ownTag: ownTag)
                    table.withLock { $0 = fresh }
                } catch {
                    logger.warning("cannot read the node list for long-poll forwarding: \(error)")
                }
                reading.withLock { $0.task = nil }
            }
            state.task = task
            return task
        }
    }
}
