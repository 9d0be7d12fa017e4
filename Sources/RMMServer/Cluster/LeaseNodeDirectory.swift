import Logging
import RMMStore
import ServiceLifecycle
import Synchronization

/// The node list of a cluster on a shared store: the agent URLs of the nodes whose lease is
/// current and that are not draining, as last read from the store, with this node's own
/// `--advertise-url` first when it has one. Answers at once from memory (`ClusterDirectory`);
/// `LeaseNodeDirectoryService` refreshes it.
final class LeaseNodeDirectory: ClusterDirectory {
    private let own: [String]
    private let known = Mutex<[String]>([])

    init(own: [String]) {
        self.own = own
    }

    func agentURLs() -> [String] {
        own + known.withLock { $0 }
    }

    /// Takes the nodes read from the store.
    func update(_ nodes: [LiveNode]) {
        let urls = nodes.filter { !$0.draining }.map(\.agentUrl).sorted()
        known.withLock { $0 = urls }
    }
}

/// Reads the live nodes into a `LeaseNodeDirectory` now and every `interval` seconds, so a node
/// that joins reaches agents in their next welcome and one that stops or drains leaves the list.
struct LeaseNodeDirectoryService: Service, CustomStringConvertible {
    var description: String { "node directory" }
    let directory: LeaseNodeDirectory
    let store: any ClusterStore
    let logger: Logger
    var interval: Duration = .seconds(5)

    func run() async {
        var failing = false
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                directory.update(try await store.liveNodes())
                if failing { logger.info("the node list is read from the store again") }
                failing = false
            } catch {
                // The list keeps its last value: agents still get the nodes known to be live then.
                if !failing { logger.warning("cannot read the node list from the store: \(error)") }
                failing = true
            }
            try? await Task.sleep(for: interval)
        }
    }
}
