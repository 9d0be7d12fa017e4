import Testing

@testable import RMMServer

/// When a node renews its lease, when it stops (only when the name was taken), and what it logs
/// about a database that does not answer: from answers and the time alone.
@Suite struct NodeLeaseMachineTests {
    let t0 = ContinuousClock.now

    func at(_ seconds: Double) -> ContinuousClock.Instant { t0 + .milliseconds(Int(seconds * 1000)) }

    func machine() -> NodeLeaseMachine {
        NodeLeaseMachine(acquiredAt: t0, lease: .seconds(15), renewEvery: .seconds(5), answerWithin: .seconds(3),
                         retryEvery: .seconds(1), reportEvery: .seconds(30))
    }

    @Test func waitsUntilTheRenewalIsDueThenRenewsWithAnAnswerDeadline() {
        var lease = machine()
        #expect(lease.next(now: at(1)) == .wait(until: at(5)))
        #expect(lease.next(now: at(5)) == .renew(deadline: at(8)))
    }

    @Test func aRenewalCountsFromWhenItsRequestWasSentNotAnswered() {
        var lease = machine()
        #expect(lease.next(now: at(5)) == .renew(deadline: at(8)))
        // Sent at 5, answered at 9: the database's expiry is at least 5 + 15 on this clock.
        #expect(lease.renewed(sentAt: at(5), now: at(9)) == nil)
        #expect(lease.validUntil == at(20))
        #expect(lease.next(now: at(9)) == .wait(until: at(10)))
        #expect(lease.next(now: at(10)) == .renew(deadline: at(13)))
    }

    @Test func anOutageLongerThanTheLeaseKeepsTheNodeServingAndRetrying() {
        var lease = machine()
        #expect(lease.next(now: at(5)) == .renew(deadline: at(8)))
        #expect(lease.failed("connection refused", now: at(5)) != nil)
        #expect(lease.next(now: at(5.5)) == .wait(until: at(6)))
        // Long past the lease's end (15 s) the node still renews, once a second; it never stops by itself.
        for second in 6...120 {
            #expect(lease.next(now: at(Double(second))) == .renew(deadline: at(Double(second) + 3)))
            _ = lease.failed("connection refused", now: at(Double(second)))
        }
        #expect(!lease.confirmed(now: at(120)))
        // The database answers: the lease is this start's again, counted from the renewal's send.
        #expect(lease.renewed(sentAt: at(121), now: at(121.5))?.contains("answered again after 116 s") == true)
        #expect(lease.confirmed(now: at(122)) && lease.validUntil == at(136))
        #expect(lease.next(now: at(122)) == .wait(until: at(126)))
    }

    @Test func anOutageIsLoggedWhenItBeginsThenEveryThirtySecondsNotAtEveryRetry() {
        var lease = machine()
        var lines: [(Int, String)] = []
        for second in 5...70 {
            if let line = lease.failed("no answer", now: at(Double(second))) { lines.append((second, line)) }
        }
        #expect(lines.map(\.0) == [5, 35, 65])
        #expect(lines[0].1.contains("unreachable for 0 s (no answer)") && lines[0].1.contains("still confirmed"))
        #expect(lines[1].1.contains("unreachable for 30 s") && lines[1].1.contains("unconfirmed") && lines[1].1.contains("keeps serving"))
        // After it ends, a new outage is reported at once.
        _ = lease.renewed(sentAt: at(71), now: at(71))
        #expect(lease.failed("no answer", now: at(80))?.contains("unreachable for 0 s") == true)
    }

    @Test func anOlderAnswerNeverShortensTheLease() {
        var lease = machine()
        _ = lease.renewed(sentAt: at(6), now: at(7))
        _ = lease.renewed(sentAt: at(5), now: at(7))
        #expect(lease.validUntil == at(21))
    }

    @Test func aLostLeaseStopsAtOnceAndForGood() {
        var lease = machine()
        _ = lease.failed("connection refused", now: at(5))
        lease.lost()
        guard case .stop(let why) = lease.next(now: at(30)) else {
            Issue.record("expected a stop")
            return
        }
        #expect(why.contains("another start"))
        _ = lease.renewed(sentAt: at(31), now: at(31))
        #expect(lease.next(now: at(32)) == .stop(why))
    }
}
