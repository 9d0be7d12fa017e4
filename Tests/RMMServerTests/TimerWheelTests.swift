import Foundation
import Testing
@testable import RMMServer

@Suite("TimerWheel")
struct TimerWheelTests {
    final class Member {}

    /// A start on a slot boundary (0.5 s slots), so the expected slots are easy to read.
    static let start = Date(timeIntervalSinceReferenceDate: 1_000)
    static func at(_ seconds: Double) -> Date { start.addingTimeInterval(seconds) }

    @Test("only members due by now are handed out, never before their due time and at most one slot after")
    func dueMembersOnly() {
        var wheel = TimerWheel<Member>(interval: 0.5, now: Self.start)
        let soon = Member(), later = Member(), idle = Member()
        wheel.schedule(soon, at: Self.at(1.2))
        wheel.schedule(later, at: Self.at(15))
        wheel.schedule(idle, at: Self.at(45))
        #expect(wheel.count == 3)
        #expect(wheel.popDue(now: Self.at(0)).isEmpty)
        #expect(wheel.popDue(now: Self.at(1.4)).isEmpty)  // 1.2 is due at the boundary of 1.5
        #expect(wheel.popDue(now: Self.at(1.5)).map(ObjectIdentifier.init) == [ObjectIdentifier(soon)])
        #expect(wheel.popDue(now: Self.at(14.9)).isEmpty)
        #expect(wheel.popDue(now: Self.at(15.2)).map(ObjectIdentifier.init) == [ObjectIdentifier(later)])
        #expect(!wheel.contains(soon) && !wheel.contains(later) && wheel.contains(idle))
        #expect(wheel.count == 1)
    }

    @Test("scheduling again keeps the earlier slot; a member moved earlier is handed out once")
    func reschedulingKeepsTheEarlierSlot() {
        var wheel = TimerWheel<Member>(interval: 0.5, now: Self.start)
        let member = Member()
        wheel.schedule(member, at: Self.at(15))
        wheel.schedule(member, at: Self.at(30))  // later: ignored
        wheel.schedule(member, at: Self.at(2))   // earlier: moves
        #expect(wheel.count == 1)
        #expect(wheel.popDue(now: Self.at(2)).count == 1)
        // Its old entry at 15 s is stale now: nothing comes out there.
        #expect(wheel.popDue(now: Self.at(16)).isEmpty)
        // Rescheduled after its wake, it is handed out at its new time.
        wheel.schedule(member, at: Self.at(20))
        #expect(wheel.popDue(now: Self.at(19.9)).isEmpty)
        #expect(wheel.popDue(now: Self.at(20)).count == 1)
        #expect(wheel.count == 0)
    }

    @Test("a member moved away and back to the same slot comes out once")
    func movedAwayAndBack() {
        var wheel = TimerWheel<Member>(interval: 0.5, now: Self.start)
        let member = Member()
        wheel.schedule(member, at: Self.at(10))
        wheel.scheduleSoon(member)
        #expect(wheel.popDue(now: Self.at(0.5)).count == 1)
        wheel.schedule(member, at: Self.at(10))  // two entries at 10 s now, one of them stale
        #expect(wheel.popDue(now: Self.at(10)).count == 1)
    }

    @Test("soon means the next slot handed out, whatever the time; a past due time means the same")
    func soonAndPast() {
        var wheel = TimerWheel<Member>(interval: 0.5, now: Self.start)
        let a = Member(), b = Member()
        _ = wheel.popDue(now: Self.at(3.2))  // handed out through the slot of 3.0
        wheel.scheduleSoon(a)
        wheel.schedule(b, at: Self.at(1))  // already past
        #expect(wheel.popDue(now: Self.at(3.4)).isEmpty)  // still the slot of 3.0
        #expect(wheel.popDue(now: Self.at(3.5)).count == 2)
    }

    @Test("after a long stall every overdue member comes out, in due order")
    func longStall() {
        var wheel = TimerWheel<Member>(interval: 0.5, now: Self.start)
        let members = (0..<3).map { _ in Member() }
        for (i, member) in members.enumerated() { wheel.schedule(member, at: Self.at(Double(3 - i) * 100)) }
        let due = wheel.popDue(now: Self.at(86_400))
        #expect(due.map(ObjectIdentifier.init) == members.reversed().map(ObjectIdentifier.init))
        #expect(wheel.count == 0)
        #expect(wheel.nextBoundary(after: Self.at(86_400.1)) == Self.at(86_400.5))
    }
}
