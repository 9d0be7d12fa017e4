import Foundation
import RMMProtocol
import Testing
@testable import gururmm

/// `gururmm run`'s progress line and `agents --watch`'s frames, without a terminal: the counts,
/// the text, the throttle and the escape codes.
@Suite struct ProgressLineTests {
    @Test("the tally counts each command by its latest state; a delivered command stays delivered, an ended one stays ended")
    func tallyCounts() {
        var tally = FanOutTally(total: 5)
        #expect(tally.counts.line == "0/5 delivered · 0 done · 0 failed")
        tally.record(command: "a", state: .sent)
        tally.record(command: "a", state: .delivered)
        tally.record(command: "a", state: .running)
        tally.record(command: "a", state: .succeeded)
        tally.record(command: "b", state: .delivered)
        tally.record(command: "b", state: .cancelled)
        tally.record(command: "c", state: .queued)
        tally.record(command: "c", state: .expired)
        tally.record(command: "d", state: .timedOut)
        tally.record(command: "e", state: .rejected)
        // A late line for an ended command changes nothing.
        tally.record(command: "a", state: .running)
        tally.record(command: "d", state: .succeeded)
        #expect(tally.counts == FanOutCounts(total: 5, delivered: 4, done: 5, failed: 2, expired: 1, cancelled: 1))
        #expect(tally.counts.line == "4/5 delivered · 5 done · 2 failed · 1 expired · 1 cancelled")
    }

    @Test("expired and cancelled are named only when there are any; a stream naming more commands than expected raises the total")
    func lineShape() {
        #expect(FanOutCounts(total: 1000, delivered: 812, done: 640, failed: 3).line == "812/1000 delivered · 640 done · 3 failed")
        #expect(FanOutCounts(total: 3, delivered: 1, done: 2, failed: 0, expired: 1).line == "1/3 delivered · 2 done · 0 failed · 1 expired")
        var tally = FanOutTally(total: 1)
        tally.record(command: "a", state: .sent)
        tally.record(command: "b", state: .sent)
        #expect(tally.counts.line == "0/2 delivered · 0 done · 0 failed")
    }

    @Test("the throttle draws at most every 100 ms, only a changed text, and nothing once finished")
    func throttle() {
        let start = ContinuousClock.now
        func at(_ ms: Int) -> ContinuousClock.Instant { start + .milliseconds(ms) }
        var throttle = ProgressThrottle()
        #expect(throttle.draw(now: at(0)) == nil, "nothing to draw yet")
        throttle.update("one")
        #expect(throttle.draw(now: at(0)) == "one")
        #expect(throttle.draw(now: at(200)) == nil, "unchanged")
        throttle.update("two")
        #expect(throttle.draw(now: at(250)) == "two")
        throttle.update("three")
        #expect(throttle.draw(now: at(300)) == nil, "50 ms after the last draw")
        #expect(throttle.draw(now: at(349)) == nil)
        #expect(throttle.draw(now: at(350)) == "three", "held back, then drawn once the interval passed")
        #expect(throttle.shown == "three")
        let erase = throttle.finish()
        #expect(erase, "a shown line must be erased")
        #expect(throttle.shown == nil)
        throttle.update("four")
        #expect(throttle.draw(now: at(10_000)) == nil)
        let eraseAgain = throttle.finish()
        #expect(!eraseAgain, "nothing left to erase")
    }

    @Test("a watch frame on a terminal overwrites the last one in place; a plain one has its time and no escape codes")
    func watchFrames() {
        let first = WatchFrame.terminal(["A  B", "1  2"], title: "every 2s", first: true)
        #expect(first == "\u{1B}[?25l\u{1B}[H\u{1B}[2Jevery 2s\u{1B}[K\n\u{1B}[K\nA  B\u{1B}[K\n1  2\u{1B}[K\n\u{1B}[J")
        let next = WatchFrame.terminal(["x"], title: "t", first: false)
        #expect(next == "\u{1B}[Ht\u{1B}[K\n\u{1B}[K\nx\u{1B}[K\n\u{1B}[J")
        let plain = WatchFrame.plain(["A  B", "1  2"], at: Date(timeIntervalSince1970: 1_800_000_000))
        #expect(plain == "--- 2027-01-15T08:00:00Z ---\nA  B\n1  2\n\n")
        #expect(!plain.contains("\u{1B}"))
    }
}
