import Foundation
import RMMProtocol
import RMMTransport
import Testing

@testable import RMMAgent

/// What the agent takes from a server's close hint for its next connection.
@Suite("Agent close hints")
struct CloseHintPolicyTests {
    private let t0 = Date(timeIntervalSince1970: 1_750_000_000)

    private func closed(_ code: CloseCode, _ reason: String) -> LinkClosure {
        LinkClosure(code: code.rawValue, reason: reason, byPeer: true)
    }

    @Test("the server's hints set the next connection's downlink and packet limits")
    func hintsApply() {
        let policy = LinkPolicy()
        _ = policy.learn(from: closed(.switchDownlink, CloseHint.switchDownlink(.poll).reason), welcomed: true, downlinkQuiet: false, welcomeLost: false, now: t0)
        _ = policy.learn(from: closed(.shrinkPackets, CloseHint.shrinkPackets(mss: 1200, cap: 2048).reason), welcomed: true, downlinkQuiet: false, welcomeLost: false, now: t0)
        let next = policy.nextConnection(now: t0)
        #expect(next.mode == .poll && next.mss == 1200 && next.cap == 2048)
    }

    @Test("an MSS or cap out of range in a close reason is ignored (an MSS past 32 bits used to reach the socket option and trap)")
    func hostileLimitsIgnored() {
        let policy = LinkPolicy()
        _ = policy.learn(from: closed(.shrinkPackets, "mss=99999999999999 cap=-5"), welcomed: true, downlinkQuiet: false, welcomeLost: false, now: t0)
        let next = policy.nextConnection(now: t0)
        #expect(next.mss == nil && next.cap == nil, "\(next)")
        _ = policy.learn(from: closed(.switchDownlink, "downlink=smoke-signals"), welcomed: true, downlinkQuiet: false, welcomeLost: false, now: t0)
        #expect(policy.nextConnection(now: t0).mode == .text)
    }
}
