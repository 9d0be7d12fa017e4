import Testing
@testable import RMMAgent

@Suite("Reconnect backoff")
struct ReconnectBackoffTests {
    @Test("full jitter under a ceiling that doubles to the maximum and starts over on reset")
    func doublesWithJitter() {
        var backoff = ReconnectBackoff(minimum: 0.5, maximum: 4)
        let ceilings = [1.0, 2, 4, 4, 4]
        for ceiling in ceilings {
            let delay = backoff.nextDelay()
            #expect(delay >= 0.5 && delay <= ceiling)
        }
        backoff.reset()
        let afterReset = backoff.nextDelay()
        #expect(afterReset >= 0.5 && afterReset <= 1)
    }

    @Test("the first delays of a fleet that lost its server together are spread, never below the minimum")
    func firstDelayIsJittered() {
        let firsts = (0..<1_000).map { _ in
            var backoff = ReconnectBackoff(minimum: 0.5, maximum: 30)
            return backoff.nextDelay()
        }
        #expect(firsts.allSatisfy { $0 >= 0.5 && $0 <= 1 })
        // Spread over the range: a tenth of it holds about a tenth of the fleet, never most of it.
        let early = firsts.filter { $0 < 0.55 }.count
        #expect(early < 300)
        #expect(Set(firsts).count > 900)
    }

    @Test("a zero minimum retries at once, and a maximum below twice the minimum caps the first delay")
    func edges() {
        var immediate = ReconnectBackoff(minimum: 0, maximum: 0)
        #expect(immediate.nextDelay() == 0)
        var capped = ReconnectBackoff(minimum: 0.5, maximum: 0.6)
        #expect((0..<100).allSatisfy { _ in (0.5...0.6).contains(capped.nextDelay()) })
    }
}
