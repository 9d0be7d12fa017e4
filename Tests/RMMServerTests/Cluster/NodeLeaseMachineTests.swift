import Testing

@testable import RMMServer

/// When a node renews its lease, and when it must stop: from answers and the time alone.
@Suite struct NodeLeaseMachineTests {
    let t0 = ContinuousClock.now

    func at(_ seconds: Double) -> ContinuousClock.Instant { t0 + .milliseconds(Int(seconds * 1000)) }

    func machine() -> NodeLeaseMachine {
        NodeLeaseMachine(acquiredAt: t0, lease: .seconds(15), renewEvery: .seconds(5), margin: .seconds(3), retryEvery: .seconds(1))
    }

    @Test func waitsUntilTheRenewalIsDueThenRenewsBeforeTheLeasesEnd() {
        var lease = machine()
        #expect(lease.next(now: at(1)) == .wait(until: at(5)))
        #expect(lease.next(now: at(5)) == .renew(deadline: at(12)))
    }

    @Test func aRenewalCountsFromWhenItsRequestWasSentNotAnswered() {
        var lease = machine()
        #expect(lease.next(now: at(5)) == .renew(deadline: at(12)))
        // Sent at 5, answered at 9: the database's expiry is at least 5 + 15 on this clock.
        lease.renewed(sentAt: at(5))
        #expect(lease.validUntil == at(20))
        #expect(lease.next(now: at(9)) == .wait(until: at(10)))
        #expect(lease.next(now: at(10)) == .renew(deadline: at(17)))
    }

    @Test func failedRenewalsAreRetriedAndTheNodeStopsBeforeTheLeaseCouldEnd() {
        var lease = machine()
        #expect(lease.next(now: at(5)) == .renew(deadline: at(12)))
        lease.failed("connection refused", now: at(5))
        #expect(lease.next(now: at(5.5)) == .wait(until: at(6)))
        #expect(lease.next(now: at(6)) == .renew(deadline: at(12)))
        lease.failed("connection refused", now: at(11.9))
        // The retry would come at 12.9, past the stop point: the wait ends at the stop point.
        #expect(lease.next(now: at(11.95)) == .wait(until: at(12)))
        guard case .stop(let why) = lease.next(now: at(12)) else {
            Issue.record("expected a stop at the lease's end minus the margin")
            return
        }
        #expect(why.contains("connection refused"))
        // Once stopped it stays stopped, whatever answers later.
        lease.renewed(sentAt: at(11))
        #expect(lease.next(now: at(12.5)) == .stop(why))
    }

    @Test func aSuccessAfterFailuresRestoresTheLease() {
        var lease = machine()
        lease.failed("timeout", now: at(5))
        lease.renewed(sentAt: at(8))
        #expect(lease.next(now: at(9)) == .wait(until: at(13)))
        #expect(lease.next(now: at(20)) == .stop(
            "this node's lease on its name ran out: no renewal answered in time; another node may take the name now, so this one stops taking work"))
    }

    @Test func anOlderAnswerNeverShortensTheLease() {
        var lease = machine()
        lease.renewed(sentAt: at(6))
        lease.renewed(sentAt: at(5))
        #expect(lease.validUntil == at(21))
    }

    @Test func aLostLeaseStopsAtOnce() {
        var lease = machine()
        lease.lost()
        guard case .stop(let why) = lease.next(now: at(1)) else {
            Issue.record("expected a stop")
            return
        }
        #expect(why.contains("another start"))
    }
}
