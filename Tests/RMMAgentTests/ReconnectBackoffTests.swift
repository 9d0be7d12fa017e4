import Testing
@testable import RMMAgent

@Suite("Reconnect backoff")
struct ReconnectBackoffTests {
    @Test("full jitter under a ceiling that doubles to the maximum and starts over on reset")
    func doublesWithJitter() {
        var backoff = ReconnectBackoff(minimum: 0.5, maximum: 4)
        let ceilings = [0.5, 1, 2, 4, 4, 4]
        for ceiling in ceilings {
            let delay = backoff.nextDelay()
            #expect(delay >= 0.5 && delay <= ceiling)
        }
        backoff.reset()
        #expect(backoff.nextDelay() == 0.5)
    }
}
