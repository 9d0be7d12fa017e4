import Foundation
import RMMProtocol
import RMMStore
import Testing

@Suite("Output cap on a command's final result")
struct OutcomeCapTests {
    @Test("each stream is cut to the cap and marked truncated; within the cap nothing changes")
    func capped() {
        let outcome = CommandOutcome(state: .succeeded, exitCode: 0, stdout: Data(repeating: 1, count: 10), stderr: Data(repeating: 2, count: 4))
        let cut = outcome.capped(at: 4)
        #expect(cut.stdout == Data(repeating: 1, count: 4))
        #expect(cut.stdoutTruncated)
        #expect(cut.stderr == Data(repeating: 2, count: 4))
        #expect(!cut.stderrTruncated, "exactly at the cap is not truncated")
        #expect(cut.state == .succeeded && cut.exitCode == 0)
        #expect(outcome.capped(at: 10) == outcome)
        #expect(outcome.capped(at: -5).stdout.isEmpty && outcome.capped(at: -5).stdoutTruncated, "a negative cap keeps nothing")
        var claimed = outcome
        claimed.stderrTruncated = true
        #expect(claimed.capped(at: 10).stderrTruncated, "an agent's own truncated mark is kept")
    }

    @Test("a slice with a non-zero start index is cut from its start")
    func slice() {
        let whole = Data([9, 9, 1, 2, 3, 4])
        let outcome = CommandOutcome(state: .failed, stdout: whole.suffix(from: 2))
        #expect(outcome.capped(at: 2).stdout == Data([1, 2]))
    }
}
