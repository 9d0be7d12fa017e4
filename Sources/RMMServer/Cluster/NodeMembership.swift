import Foundation
import Logging
import RMMStore

/// How long a node's lease on its name lasts and how often it is renewed.
public struct NodeLeaseTiming: Sendable, Equatable {
    /// The lease's length: a node that stopped without releasing its name holds it this long.
    public var lease: Duration = .seconds(15)
    public var renewEvery: Duration = .seconds(5)
    /// A renewal unanswered this long counts as failed (and the database as away).
    public var answerWithin: Duration = .seconds(3)

    public init() {}

    /// A lease of `seconds`, renewed every third of it (a test's short lease; at least 1 s).
    public init(leaseSeconds seconds: Int) {
        lease = .seconds(max(1, seconds))
        renewEvery = lease / 3
        answerWithin = min(answerWithin, lease / 3)
    }
}

/// A running node's place in a shared store: its lease, and the services that keep and mark it.
struct NodeMembership: Sendable {
    let store: any ClusterStore
    let claim: NodeClaim
    let leaseService: NodeLeaseService
    let drainService: NodeDrainService

    /// Takes the lease on `name` for this start (a new random instance id), or stops the start.
    static func join(store: any ClusterStore, name: String, timing: NodeLeaseTiming, logger: Logger) async throws -> NodeMembership {
        let seconds = Double(timing.lease.components.seconds) + Double(timing.lease.components.attoseconds) / 1e18
        let claim = NodeClaim(name: name, instance: UUID().uuidString.lowercased(), leaseSeconds: seconds)
        let sentAt = ContinuousClock.now
        try await ClusterJoin.acquire(claim, store: store)
        logger.info("node \(name) holds its name's lease (instance \(claim.instance))")
        let machine = NodeLeaseMachine(acquiredAt: sentAt, lease: timing.lease, renewEvery: timing.renewEvery, answerWithin: timing.answerWithin)
        let draining = NodeDraining()
        return NodeMembership(
            store: store, claim: claim,
            leaseService: NodeLeaseService(store: store, claim: claim, machine: machine, draining: draining, logger: logger),
            drainService: NodeDrainService(store: store, claim: claim, draining: draining, logger: logger)
        )
    }

    /// Gives the name up (a start that ends before its services run).
    func release(logger: Logger) async {
        do {
            try await store.releaseNodeLease(claim)
        } catch {
            logger.warning("node \(claim.name): could not give up its lease (\(error)); the name is free when it expires")
        }
    }

    /// Publishes the node's URLs once its listeners are bound.
    func advertise(agentUrl: String, apiUrl: String, peerUrl: String) async throws {
        if try await store.advertiseNode(claim, agentUrl: agentUrl, apiUrl: apiUrl, peerUrl: peerUrl) == .lost {
            throw NodeLeaseLost(description: "node \(claim.name): its lease was taken by another start before it was ready")
        }
    }
}

extension Optional where Wrapped == NodeMembership {
    /// Runs a step of the start; if it throws, the name is given up first (no need to wait for
    /// the lease to expire before starting again).
    func released<T: Sendable>(onError logger: Logger, _ step: () async throws -> T) async throws -> T {
        do {
            return try await step()
        } catch {
            await self?.release(logger: logger)
            throw error
        }
    }
}
