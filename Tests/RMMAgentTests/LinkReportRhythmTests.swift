import Foundation
import RMMProtocol
import Testing

@testable import RMMAgent

@Suite("Link report rhythm")
struct LinkReportRhythmTests {
    private let heartbeat = 15.0
    private let start = Date(timeIntervalSince1970: 1_000_000)

    /// Counters of a link where data and control frames both arrived at `at`.
    private func counters(dataAt: Date?, controlAt: Date?, decodeErrors: Int = 0) -> LinkCounters {
        var counters = LinkCounters()
        counters.lastDataIn = dataAt?.timeIntervalSince1970
        counters.lastControlIn = controlAt?.timeIntervalSince1970
        counters.decodeErrors = decodeErrors
        return counters
    }

    /// `rhythm.due` with this suite's heartbeat (`#expect` cannot call a mutating method itself).
    private func isDue(_ rhythm: inout LinkReportRhythm, _ counters: LinkCounters, at now: Date, _ policy: LinkPolicy) -> Bool {
        rhythm.due(counters: counters, heartbeatInterval: heartbeat, now: now, policy: policy)
    }

    /// A rhythm that sent its first report at `start`, on a link with data and control frames then.
    private func afterFirstReport() -> (rhythm: LinkReportRhythm, fresh: LinkCounters) {
        var rhythm = LinkReportRhythm(now: start)
        let fresh = counters(dataAt: start, controlAt: start)
        rhythm.sent(counters: fresh, heartbeatInterval: heartbeat, now: start)
        return (rhythm, fresh)
    }

    @Test("the first report goes at once; routine ones at most every eight heartbeats, jittered, never sooner than 0.8 of that")
    func routine() {
        let policy = LinkPolicy()
        var rhythm = LinkReportRhythm(now: start)
        let fresh = counters(dataAt: start, controlAt: start)
        #expect(isDue(&rhythm, fresh, at: start, policy))
        rhythm.sent(counters: fresh, heartbeatInterval: heartbeat, now: start)

        let interval = LinkReportRhythm.routineInterval(heartbeatInterval: heartbeat)
        #expect(interval == 120)
        // Data keeps arriving, so only the routine report can be due.
        func live(_ t: Date) -> LinkCounters { counters(dataAt: t, controlAt: t) }
        let notYet = start.addingTimeInterval(interval * 0.8 - 0.01)
        #expect(!isDue(&rhythm, live(notYet), at: notYet, policy))
        let next = rhythm.nextCheck(counters: live(notYet), heartbeatInterval: heartbeat, now: notYet)
        #expect(next >= start.addingTimeInterval(interval * 0.8) && next <= start.addingTimeInterval(interval))
        let late = start.addingTimeInterval(interval)
        #expect(isDue(&rhythm, live(late), at: late, policy))
    }

    @Test("the jitter spreads a fleet that connected together")
    func jitterSpreads() {
        let fresh = counters(dataAt: start, controlAt: start)
        let nexts = Set((0..<50).map { _ -> Date in
            var rhythm = LinkReportRhythm(now: start)
            rhythm.sent(counters: fresh, heartbeatInterval: heartbeat, now: start)
            // With data still arriving the next check is the routine report itself.
            return rhythm.nextCheck(counters: counters(dataAt: start.addingTimeInterval(1000), controlAt: nil), heartbeatInterval: heartbeat, now: start)
        })
        #expect(nexts.count > 40)
    }

    @Test("a new decode error is reported at once, once")
    func decodeError() {
        let policy = LinkPolicy()
        var rhythm = afterFirstReport().rhythm
        let soon = start.addingTimeInterval(1)
        let garbled = counters(dataAt: soon, controlAt: soon, decodeErrors: 1)
        #expect(isDue(&rhythm, garbled, at: soon, policy))
        rhythm.sent(counters: garbled, heartbeatInterval: heartbeat, now: soon)
        let later = start.addingTimeInterval(2)
        #expect(!isDue(&rhythm, counters(dataAt: later, controlAt: later, decodeErrors: 1), at: later, policy))
        #expect(isDue(&rhythm, counters(dataAt: later, controlAt: later, decodeErrors: 2), at: later, policy))
    }

    @Test("data quiet while control frames arrive: reported at once and noted, once per quiet spell")
    func quietDownlink() {
        let policy = LinkPolicy()
        var (rhythm, fresh) = afterFirstReport()
        let quietAfter = LinkReportRhythm.quietAfter(heartbeatInterval: heartbeat)
        #expect(rhythm.nextCheck(counters: fresh, heartbeatInterval: heartbeat, now: start) == start.addingTimeInterval(quietAfter))

        let quiet = start.addingTimeInterval(quietAfter)
        let onlyPongs = counters(dataAt: start, controlAt: quiet)
        #expect(isDue(&rhythm, onlyPongs, at: quiet, policy))
        #expect(policy.history.finding?.hasPrefix("downlink-quiet") == true)
        rhythm.sent(counters: onlyPongs, heartbeatInterval: heartbeat, now: quiet)
        let stillQuiet = quiet.addingTimeInterval(5)
        #expect(!isDue(&rhythm, counters(dataAt: start, controlAt: stillQuiet), at: stillQuiet, policy))

        // Data again, then quiet again: a new spell, reported again.
        let back = stillQuiet.addingTimeInterval(1)
        #expect(!isDue(&rhythm, counters(dataAt: back, controlAt: back), at: back, policy))
        let again = back.addingTimeInterval(quietAfter)
        #expect(isDue(&rhythm, counters(dataAt: back, controlAt: again), at: again, policy))
    }

    @Test("no control frames either: not a quiet downlink (the deadline deals with a dead link)")
    func deadIsNotQuiet() {
        let policy = LinkPolicy()
        var (rhythm, fresh) = afterFirstReport()
        let later = start.addingTimeInterval(60)
        #expect(!isDue(&rhythm, fresh, at: later, policy))
        #expect(policy.history.finding == nil)
    }

    @Test("for a sleeping reporter the next check is never in the past: while the quiet downlink is unsaid it looks again shortly, once said only the routine report is left")
    func nextCheckForASleeper() {
        let policy = LinkPolicy()
        let first = afterFirstReport()
        var rhythm = first.rhythm
        let fresh = first.fresh
        let quietAt = start.addingTimeInterval(LinkReportRhythm.quietAfter(heartbeatInterval: heartbeat))
        // Before the quiet moment: that moment.
        #expect(rhythm.nextCheck(counters: fresh, heartbeatInterval: heartbeat, now: start) == quietAt)
        // Past it, data quiet but no control frame seen (no pong yet): look again shortly, not at once.
        let later = quietAt.addingTimeInterval(1)
        let dataQuiet = counters(dataAt: start, controlAt: start)
        #expect(!isDue(&rhythm, dataQuiet, at: later, policy))
        #expect(rhythm.nextCheck(counters: dataQuiet, heartbeatInterval: heartbeat, now: later) == later.addingTimeInterval(LinkReportRhythm.quietRecheck))
        // A pong arrives: the quiet downlink is said; after that, only the routine report.
        let pong = counters(dataAt: start, controlAt: later)
        #expect(isDue(&rhythm, pong, at: later, policy))
        rhythm.sent(counters: pong, heartbeatInterval: heartbeat, now: later)
        let next = rhythm.nextCheck(counters: pong, heartbeatInterval: heartbeat, now: later)
        #expect(next > later.addingTimeInterval(0.8 * LinkReportRhythm.routineInterval(heartbeatInterval: heartbeat) - 1))
    }

    @Test("one rule for every sleeper: once the quiet downlink is said, a past quiet moment is not a deadline (the fleet simulator re-swept at once on it)")
    func saidQuietIsNotDue() {
        let policy = LinkPolicy()
        var (rhythm, _) = afterFirstReport()
        let quietAt = start.addingTimeInterval(LinkReportRhythm.quietAfter(heartbeatInterval: heartbeat))
        let pong = counters(dataAt: start, controlAt: quietAt)
        #expect(isDue(&rhythm, pong, at: quietAt, policy))
        rhythm.sent(counters: pong, heartbeatInterval: heartbeat, now: quietAt)
        let later = quietAt.addingTimeInterval(3)
        let next = rhythm.nextCheck(counters: counters(dataAt: start, controlAt: later), heartbeatInterval: heartbeat, now: later)
        #expect(next == rhythm.nextRoutine(heartbeatInterval: heartbeat))
        #expect(next > later)
    }

    @Test("a config that shortens the heartbeat interval brings the routine report nearer at once; one that lengthens it moves it away")
    func replansOnNewInterval() {
        let policy = LinkPolicy()
        var (rhythm, _) = afterFirstReport()
        let slow = 30.0
        let fast = 1.0
        let planned = rhythm.nextRoutine(heartbeatInterval: heartbeat)
        #expect(planned >= start.addingTimeInterval(0.8 * 120) && planned <= start.addingTimeInterval(120))
        // The same jittered share of the new interval, from the same last report.
        let share = planned.timeIntervalSince(start) / LinkReportRhythm.routineInterval(heartbeatInterval: heartbeat)
        let sooner = rhythm.nextRoutine(heartbeatInterval: fast)
        #expect(abs(sooner.timeIntervalSince(start) - share * LinkReportRhythm.routineInterval(heartbeatInterval: fast)) < 0.001)
        #expect(rhythm.nextRoutine(heartbeatInterval: slow) > planned)
        // A reporter woken at 5 s by the new config: its next check is the nearer report, and it is due then.
        let woken = start.addingTimeInterval(5)
        func live(_ t: Date) -> LinkCounters { counters(dataAt: t, controlAt: t) }
        #expect(rhythm.nextCheck(counters: counters(dataAt: nil, controlAt: woken), heartbeatInterval: fast, now: woken) == sooner)
        #expect(sooner <= start.addingTimeInterval(8))
        let dueBefore = rhythm.due(counters: live(woken), heartbeatInterval: fast, now: woken, policy: policy)
        let dueThen = rhythm.due(counters: live(sooner), heartbeatInterval: fast, now: sooner, policy: policy)
        #expect(!dueBefore)
        #expect(dueThen)
    }
}
