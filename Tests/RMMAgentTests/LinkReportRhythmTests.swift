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

    @Test("the first report goes at once; routine ones at most every eight heartbeats, jittered, never sooner than 0.8 of that")
    func routine() {
        let policy = LinkPolicy()
        var rhythm = LinkReportRhythm(now: start)
        let fresh = counters(dataAt: start, controlAt: start)
        do {
            let due = rhythm.due(counters: fresh, heartbeatInterval: heartbeat, now: start, policy: policy)
            #expect(due)
        }
        rhythm.sent(counters: fresh, heartbeatInterval: heartbeat, now: start)

        let interval = LinkReportRhythm.routineInterval(heartbeatInterval: heartbeat)
        #expect(interval == 120)
        // Data keeps arriving, so only the routine report can be due.
        func live(_ t: Date) -> LinkCounters { counters(dataAt: t, controlAt: t) }
        let notYet = start.addingTimeInterval(interval * 0.8 - 0.01)
        do {
            let due = rhythm.due(counters: live(notYet), heartbeatInterval: heartbeat, now: notYet, policy: policy)
            #expect(!due)
        }
        let next = rhythm.nextCheck(counters: live(notYet), heartbeatInterval: heartbeat)
        #expect(next >= start.addingTimeInterval(interval * 0.8) && next <= start.addingTimeInterval(interval))
        let late = start.addingTimeInterval(interval)
        do {
            let due = rhythm.due(counters: live(late), heartbeatInterval: heartbeat, now: late, policy: policy)
            #expect(due)
        }
    }

    @Test("the jitter spreads a fleet that connected together")
    func jitterSpreads() {
        let fresh = counters(dataAt: start, controlAt: start)
        let nexts = Set((0..<50).map { _ -> Date in
            var rhythm = LinkReportRhythm(now: start)
            rhythm.sent(counters: fresh, heartbeatInterval: heartbeat, now: start)
            // With data still arriving the next check is the routine report itself.
            return rhythm.nextCheck(counters: counters(dataAt: start.addingTimeInterval(1000), controlAt: nil), heartbeatInterval: heartbeat)
        })
        #expect(nexts.count > 40)
    }

    @Test("a new decode error is reported at once, once")
    func decodeError() {
        let policy = LinkPolicy()
        var rhythm = LinkReportRhythm(now: start)
        let fresh = counters(dataAt: start, controlAt: start)
        rhythm.sent(counters: fresh, heartbeatInterval: heartbeat, now: start)
        let soon = start.addingTimeInterval(1)
        let garbled = counters(dataAt: soon, controlAt: soon, decodeErrors: 1)
        do {
            let due = rhythm.due(counters: garbled, heartbeatInterval: heartbeat, now: soon, policy: policy)
            #expect(due)
        }
        rhythm.sent(counters: garbled, heartbeatInterval: heartbeat, now: soon)
        let later = start.addingTimeInterval(2)
        do {
            let due = rhythm.due(counters: counters(dataAt: later, controlAt: later, decodeErrors: 1), heartbeatInterval: heartbeat, now: later, policy: policy)
            #expect(!due)
        }
        do {
            let due = rhythm.due(counters: counters(dataAt: later, controlAt: later, decodeErrors: 2), heartbeatInterval: heartbeat, now: later, policy: policy)
            #expect(due)
        }
    }

    @Test("data quiet while control frames arrive: reported at once and noted, once per quiet spell")
    func quietDownlink() {
        let policy = LinkPolicy()
        var rhythm = LinkReportRhythm(now: start)
        let fresh = counters(dataAt: start, controlAt: start)
        rhythm.sent(counters: fresh, heartbeatInterval: heartbeat, now: start)
        let quietAfter = LinkReportRhythm.quietAfter(heartbeatInterval: heartbeat)
        #expect(rhythm.nextCheck(counters: fresh, heartbeatInterval: heartbeat) == start.addingTimeInterval(quietAfter))

        let quiet = start.addingTimeInterval(quietAfter)
        let onlyPongs = counters(dataAt: start, controlAt: quiet)
        do {
            let due = rhythm.due(counters: onlyPongs, heartbeatInterval: heartbeat, now: quiet, policy: policy)
            #expect(due)
        }
        #expect(policy.history.finding?.hasPrefix("downlink-quiet") == true)
        rhythm.sent(counters: onlyPongs, heartbeatInterval: heartbeat, now: quiet)
        let stillQuiet = quiet.addingTimeInterval(5)
        do {
            let due = rhythm.due(counters: counters(dataAt: start, controlAt: stillQuiet), heartbeatInterval: heartbeat, now: stillQuiet, policy: policy)
            #expect(!due)
        }

        // Data again, then quiet again: a new spell, reported again.
        let back = stillQuiet.addingTimeInterval(1)
        do {
            let due = rhythm.due(counters: counters(dataAt: back, controlAt: back), heartbeatInterval: heartbeat, now: back, policy: policy)
            #expect(!due)
        }
        let again = back.addingTimeInterval(quietAfter)
        do {
            let due = rhythm.due(counters: counters(dataAt: back, controlAt: again), heartbeatInterval: heartbeat, now: again, policy: policy)
            #expect(due)
        }
    }

    @Test("no control frames either: not a quiet downlink (the deadline deals with a dead link)")
    func deadIsNotQuiet() {
        let policy = LinkPolicy()
        var rhythm = LinkReportRhythm(now: start)
        let fresh = counters(dataAt: start, controlAt: start)
        rhythm.sent(counters: fresh, heartbeatInterval: heartbeat, now: start)
        let later = start.addingTimeInterval(60)
        do {
            let due = rhythm.due(counters: fresh, heartbeatInterval: heartbeat, now: later, policy: policy)
            #expect(!due)
        }
        #expect(policy.history.finding == nil)
    }
}
