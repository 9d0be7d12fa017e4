import RMMProtocol
import Synchronization
import Testing

/// A race of work against its deadline that never waits for work which does not end.
@Suite struct FirstAnswerTests {
    /// Suspends forever, cancelled or not: a call to a database that vanished.
    static func never() async -> String {
        await withCheckedContinuation { (_: CheckedContinuation<Void, Never>) in }
        return "answered"
    }

    @Test func theWorksAnswerWhenItComesFirst() async {
        #expect(await firstAnswer(before: .now + .seconds(60), late: "late") { "answered" } == "answered")
    }

    @Test func lateAtTheDeadlineThoughTheWorkNeverEndsEvenCancelled() async {
        #expect(await firstAnswer(before: .now + .milliseconds(50), late: "late") { await Self.never() } == "late")
    }

    @Test func aDeadlineThatMovesIsAskedAgainAtEachInstantItNames() async {
        let looks = Mutex(0)
        let start = ContinuousClock.now
        let answer = await firstAnswer(judge: { now -> DeadlineCheck<String> in
            let look = looks.withLock { $0 += 1; return $0 }
            // Moved twice, 20 ms at a time, then over.
            return look < 3 ? .lookAgain(at: max(now, start) + .milliseconds(20)) : .late("late after \(look) looks")
        }) { await Self.never() }
        #expect(answer == "late after 3 looks")
    }

    @Test func nilWhenTheCallerIsCancelledFirst() async {
        let caller = Task { await firstAnswer(judge: { now in .lookAgain(at: now + .seconds(60)) }) { await Self.never() } }
        caller.cancel()
        #expect(await caller.value == nil)
    }
}
