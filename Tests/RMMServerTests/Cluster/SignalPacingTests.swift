import Testing
@testable import RMMServer

/// The pacing of a node's change signals: bursts at once, a sustained stream bounded.
@Suite("SignalPacing")
struct SignalPacingTests {
    let t0 = ContinuousClock.now

    @Test("a burst goes at once; past it, one signal per interval; a quiet spell earns the burst back")
    func burstThenPaced() {
        var pacing = SignalPacing(burst: 3, interval: .milliseconds(20))
        #expect((0..<3).map { _ in pacing.take(now: t0) } == [.zero, .zero, .zero])
        #expect(pacing.take(now: t0) == .milliseconds(20))
        // Asked again before that wait ended: queued behind it.
        #expect(pacing.take(now: t0 + .milliseconds(5)) == .milliseconds(35))
        // Half an interval after the last wait ends: half a token, so half an interval more.
        #expect(pacing.take(now: t0 + .milliseconds(50)) == .milliseconds(10))
        // A second later the whole burst is back, and no more.
        let later = t0 + .seconds(1)
        #expect((0..<3).map { _ in pacing.take(now: later) } == [.zero, .zero, .zero])
        #expect(pacing.take(now: later) == .milliseconds(20))
    }

    @Test("a sustained stream is held to one signal per interval")
    func sustainedRate() {
        var pacing = SignalPacing(burst: 5, interval: .milliseconds(20))
        var now = t0
        var waited = Duration.zero
        for _ in 0..<105 {
            let wait = pacing.take(now: now)
            waited += wait
            now += wait
        }
        // 5 free, then 100 earned at 20 ms each.
        #expect(waited == .seconds(2))
    }
}
