import Foundation
import RMMProtocol
import RMMTransport
import Testing

@testable import RMMAgent

/// The reconnect decision the agent and the fleet simulator share: stop on a permanent close,
/// otherwise a jittered backoff that starts over after an attempt that worked or taught the policy
/// something, with the policy learning from each attempt.
@Suite("Reconnect loop")
struct ReconnectLoopTests {
    private let t0 = Date(timeIntervalSince1970: 1_750_000_000)

    /// Always draws the top of the range: the delay is then the backoff's ceiling.
    private struct Highest: RandomNumberGenerator {
        mutating func next() -> UInt64 { .max }
    }

    private func closure(_ code: CloseCode, _ reason: String = "", byPeer: Bool = true) -> LinkClosure {
        LinkClosure(code: code.rawValue, reason: reason, byPeer: byPeer)
    }

    @Test("a permanent close from the server stops the loop")
    func permanentStops() {
        var loop = ReconnectLoop(minBackoff: 0.5, maxBackoff: 8)
        let revoked = closure(.revoked, "agent revoked")
        #expect(CloseCode.revoked.isPermanent)
        #expect(loop.next(after: .ended(.refused(revoked)), policy: LinkPolicy(), now: t0) == .stop(revoked))
    }

    @Test("failed connects double the ceiling to the maximum; a welcomed session starts it over")
    func backoffGrowsAndResets() {
        var loop = ReconnectLoop(minBackoff: 0.5, maxBackoff: 4)
        var top = Highest()
        let policy = LinkPolicy()
        let delays = (0..<5).map { _ in loop.next(after: .failed, policy: policy, now: t0, using: &top) }
        #expect(delays.map { step -> Double in if case .retry(let d) = step { return d } else { return -1 } }.map { ($0 * 1000).rounded() / 1000 } == [1, 2, 4, 4, 4])
        let ended = SessionEnd.ended(closure(.goingAway, byPeer: true), welcomed: true, downlinkQuiet: false, welcomeLost: false)
        guard case .retry(let delay) = loop.next(after: .ended(ended), policy: policy, now: t0, using: &top) else {
            Issue.record("a welcomed session must be retried")
            return
        }
        #expect(delay <= 1 + 1e-9)
        #expect(policy.history.reconnects.count == 1, "the policy recorded the reconnect")
    }

    @Test("a quiet downlink moves the policy to the fallback mode and starts the backoff over")
    func quietDownlinkHeals() {
        var loop = ReconnectLoop(minBackoff: 0.5, maxBackoff: 4)
        var top = Highest()
        let policy = LinkPolicy()
        for _ in 0..<3 { _ = loop.next(after: .failed, policy: policy, now: t0, using: &top) }
        let quiet = SessionEnd.ended(closure(.deadlineExpired, "no data", byPeer: false), welcomed: true, downlinkQuiet: true, welcomeLost: false)
        #expect(loop.next(after: .ended(quiet), policy: policy, now: t0, using: &top) == .retry(after: 1))
        #expect(policy.mode == DownlinkMode.text.fallback)
    }

    @Test("a lost upgrade answer clamps the packets, records the finding and starts the backoff over")
    func answerLostShrinks() {
        var loop = ReconnectLoop(minBackoff: 0.5, maxBackoff: 4)
        var top = Highest()
        let policy = LinkPolicy()
        for _ in 0..<3 { _ = loop.next(after: .failed, policy: policy, now: t0, using: &top) }
        #expect(loop.next(after: .answerLost("no answer"), policy: policy, now: t0, using: &top) == .retry(after: 1))
        let next = policy.nextConnection(now: t0)
        #expect(next.mss != nil && next.cap != nil)
        #expect(policy.history.findings.map(\.kind) == [.answerLost])
    }

    @Test("the server's switch-downlink hint is applied")
    func closeHintApplied() {
        var loop = ReconnectLoop(minBackoff: 0.5, maxBackoff: 4)
        let policy = LinkPolicy()
        let hint = SessionEnd.ended(closure(.switchDownlink, "downlink=poll"), welcomed: true, downlinkQuiet: false, welcomeLost: false)
        _ = loop.next(after: .ended(hint), policy: policy, now: t0)
        #expect(policy.mode == .poll)
    }
}
