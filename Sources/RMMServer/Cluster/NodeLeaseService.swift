import Logging
import RMMProtocol
import RMMStore
import ServiceLifecycle

/// Keeps this node's lease on its name while the server runs (`NodeLeaseMachine` decides), and
/// gives it up when the server stops cleanly.
///
/// While the database does not answer, the node keeps serving on an unconfirmed lease (the
/// machine's comment says why that is safe), logging the outage when it begins, every 30 s while
/// it lasts and when it ends; a renewal unanswered by its deadline also marks the store's database
/// away, so the node's other calls fail at once rather than queue. When a renewal the database
/// answers finds the name taken by another start, the service throws `NodeLeaseLost`: the
/// server's service group then cancels every service at once and the process exits non-zero. It
/// is the first service of the group, so a graceful stop reaches it last: it renews while the
/// others finish, then releases the name.
struct NodeLeaseService: Service, CustomStringConvertible {
    var description: String { "node lease" }
    let store: any ClusterStore
    let claim: NodeClaim
    let machine: NodeLeaseMachine
    let draining: NodeDraining
    let logger: Logger

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown { try await keep() }
        } catch let error as NodeLeaseLost {
            logger.critical("\(error)")
            throw error
        } catch {
            // A graceful stop or the group's cancellation: the name is given up below.
        }
        // In a task of its own: this one may be cancelled, and a cancelled task's query fails at once.
        let store = self.store
        let claim = self.claim
        do {
            try await Task { try await store.releaseNodeLease(claim) }.value
        } catch {
            logger.warning("node \(claim.name): could not give up its lease (\(error)); the name is free when it expires in \(claim.leaseSeconds) s")
        }
    }

    private func keep() async throws {
        var machine = self.machine
        let clock = ContinuousClock()
        while true {
            switch machine.next(now: clock.now) {
            case .stop(let why):
                throw NodeLeaseLost(description: "node \(claim.name): \(why)")
            case .wait(let until):
                try await Task.sleep(until: until, clock: clock)
            case .renew(let deadline):
                let sentAt = clock.now
                switch await renew(before: deadline) {
                case .renewed:
                    if let line = machine.renewed(sentAt: sentAt, now: clock.now) { logger.notice("node \(claim.name): \(line)") }
                case .lost:
                    machine.lost()
                case .failed(let why, let unanswered):
                    try Task.checkCancellation()
                    if unanswered { store.databaseUnanswered(why) }
                    if let line = machine.failed(why, now: clock.now) { logger.warning("node \(claim.name): \(line)") }
                }
            }
        }
    }

    private enum Renewal: Sendable {
        case renewed, lost
        /// `unanswered`: no answer by the deadline (rather than an error).
        case failed(String, unanswered: Bool)
    }

    /// One renewal, or a failure at `deadline` if it has not answered by then (a query to a
    /// database that vanished without a reset may not answer for minutes).
    private func renew(before deadline: ContinuousClock.Instant) async -> Renewal {
        let store = self.store
        let claim = self.claim
        let draining = self.draining.isSet
        return await firstAnswer(before: deadline, late: .failed("the renewal was not answered in time", unanswered: true)) {
            do {
                switch try await store.renewNodeLease(claim, draining: draining) {
                case .renewed: return .renewed
                case .lost: return .lost
                }
            } catch {
                return .failed("\(error)", unanswered: false)
            }
        }
    }
}

/// Why a running node stopped: its lease on its name is gone.
struct NodeLeaseLost: Error, CustomStringConvertible {
    let description: String
}
