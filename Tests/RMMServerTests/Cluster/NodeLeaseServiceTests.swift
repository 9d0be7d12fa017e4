import Foundation
import Logging
import RMMStore
import ServiceLifecycle
import Synchronization
import RMMTestSupport
import Testing

@testable import RMMServer

/// The lease service against a store that answers as told: it stops the node only when its lease
/// is lost (not when the database is away past the lease's end), and gives the name up on a clean stop.
@Suite("Node lease service")
struct NodeLeaseServiceTests {
    /// A `ClusterStore` whose renewals answer `answer` (or throw, or hang), counting calls.
    final class ScriptedStore: ClusterStore {
        enum Answer { case renewed, lost, fail, hang }
        private let state = Mutex<(answer: Answer, renewals: Int, releases: Int, draining: Bool, unanswered: Int)>((.renewed, 0, 0, false, 0))

        func set(_ answer: Answer) { state.withLock { $0.answer = answer } }
        var renewals: Int { state.withLock { $0.renewals } }
        var releases: Int { state.withLock { $0.releases } }
        var markedDraining: Bool { state.withLock { $0.draining } }
        var unanswered: Int { state.withLock { $0.unanswered } }
        func databaseUnanswered(_ why: String) { state.withLock { $0.unanswered += 1 } }

        func claimIdentity(_ identity: ClusterIdentity, node: String) async throws -> ClusterIdentityOutcome { .matches }
        func acquireNodeLease(_ claim: NodeClaim) async throws -> NodeLeaseGrant { .acquired }
        func advertiseNode(_ claim: NodeClaim, agentUrl: String, apiUrl: String, peerUrl: String) async throws -> NodeLeaseRenewal { .renewed }
        func renewNodeLease(_ claim: NodeClaim, draining: Bool) async throws -> NodeLeaseRenewal {
            let answer = state.withLock { state in
                state.renewals += 1
                if draining { state.draining = true }
                return state.answer
            }
            switch answer {
            case .renewed: return .renewed
            case .lost: return .lost
            case .fail: throw StoreError.unavailable("connection refused")
            case .hang:
                try await Task.sleep(for: .seconds(3600))
                return .renewed
            }
        }
        func releaseNodeLease(_ claim: NodeClaim) async throws { state.withLock { $0.releases += 1 } }
        func liveNodes() async throws -> [LiveNode] { [] }
        func nodePeers() async throws -> [NodePeer] { [] }
    }

    static let claim = NodeClaim(name: "n1", instance: "i1", leaseSeconds: 0.6)

    /// A service whose lease lasts `lease` from now (long, unless the test waits for it to run out:
    /// a busy machine may not run the service for a while), renewed every 10 ms.
    func service(_ store: ScriptedStore, lease: Duration = .seconds(60)) -> NodeLeaseService {
        let machine = NodeLeaseMachine(acquiredAt: .now, lease: lease, renewEvery: .milliseconds(10), answerWithin: .milliseconds(100),
                                       retryEvery: .milliseconds(10))
        return NodeLeaseService(store: store, claim: Self.claim, machine: machine, draining: NodeDraining(), logger: Logger(label: "test.lease"))
    }

    /// Runs the service until it ends by itself (at most 30 s); the error it threw.
    func runToEnd(_ service: NodeLeaseService) async throws -> (any Error)? {
        try await withThrowingTaskGroup(of: (any Error)?.self) { group in
            group.addTask {
                do { try await service.run() } catch { return error }
                return nil
            }
            group.addTask {
                try await Task.sleep(for: .seconds(30))
                throw CancellationError()
            }
            let first = try await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }

    @Test("renewals that fail or hang long past the lease's end keep the node running and retrying; an unanswered one marks the database away", arguments: [
        ScriptedStore.Answer.fail, .hang,
    ])
    func outlivesTheLease(answer: ScriptedStore.Answer) async throws {
        let store = ScriptedStore()
        store.set(answer)
        let lease = service(store, lease: .milliseconds(200))
        let group = ServiceGroup(configuration: .init(services: [lease], gracefulShutdownSignals: [], logger: Logger(label: "test.lease")))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            // Renewals keep coming well past the 200 ms lease; the service has not ended the group.
            try await waitUntil("renewals past the lease's end", timeout: .seconds(30)) { store.renewals >= 4 }
            if answer == .hang { try await waitUntil("the database marked away", timeout: .seconds(30)) { store.unanswered > 0 } }
            // The database answers again: renewals succeed and the node still runs.
            store.set(.renewed)
            let before = store.renewals
            try await waitUntil("a renewal after the outage", timeout: .seconds(30)) { store.renewals > before + 1 }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        #expect(store.releases == 1)
        if answer == .fail { #expect(store.unanswered == 0) }
    }

    @Test("a renewal that finds the lease taken stops the node at once")
    func lost() async throws {
        let store = ScriptedStore()
        store.set(.lost)
        let error = try await runToEnd(service(store))
        #expect((error as? NodeLeaseLost)?.description.contains("another start") == true)
        #expect(store.renewals == 1 && store.releases == 0)
    }

    @Test("a graceful stop marks the node draining first and releases its name last")
    func gracefulStop() async throws {
        let store = ScriptedStore()
        let lease = service(store)
        let drain = NodeDrainService(store: store, claim: Self.claim, draining: lease.draining, logger: Logger(label: "test.lease"))
        let group = ServiceGroup(configuration: .init(services: [lease, drain], gracefulShutdownSignals: [], logger: Logger(label: "test.lease")))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            // Several renewals while it runs.
            try await waitUntil("three renewals", timeout: .seconds(30)) { store.renewals >= 3 }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        #expect(store.markedDraining && store.releases == 1)
    }
}
