import Logging
import RMMProtocol
import RMMStore
import ServiceLifecycle
import Synchronization

/// Set once the server starts stopping: renewals then mark the node draining, so the welcome's
/// node list stops sending agents to it.
final class NodeDraining: Sendable {
    private let flag = Atomic<Bool>(false)
    var isSet: Bool { flag.load(ordering: .relaxed) }
    func set() { flag.store(true, ordering: .relaxed) }
}

/// The last service of the group, so the first a graceful stop reaches: marks the node draining
/// at once (one renewal with the flag) while the other services finish.
struct NodeDrainService: Service, CustomStringConvertible {
    var description: String { "node drain marker" }
    let store: any ClusterStore
    let claim: NodeClaim
    let draining: NodeDraining
    let logger: Logger

    func run() async throws {
        // Cancelled rather than stopped gracefully (the lease was lost): nothing to mark.
        do { try await gracefulShutdown() } catch { return }
        draining.set()
        let store = self.store
        let claim = self.claim
        // Bounded: while the database is away the drain (which waits for this service) must not
        // wait on an answer that may never come.
        let failure = await firstAnswer(before: .now + .seconds(3), late: "no answer within 3 s") { () -> String? in
            do {
                _ = try await store.renewNodeLease(claim, draining: true)
                return nil
            } catch {
                return "\(error)"
            }
        }
        if let failure { logger.warning("node \(claim.name): could not mark itself draining (\(failure))") }
    }
}
