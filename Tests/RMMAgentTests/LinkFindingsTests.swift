import Foundation
import RMMProtocol
import RMMTransport
import Testing

@testable import RMMAgent

/// The agent's own findings as data: each tied to the attempt's connection id (from the server's
/// upgrade answer), its downlink mode and time; bounded; and a new one makes a report due at once.
@Suite("Agent link findings")
struct LinkFindingsTests {
    private let t0 = Date(timeIntervalSince1970: 1_750_000_000)
    private let timeout = LinkClosure(code: CloseCode.handshakeTimeout.rawValue, reason: "no challenge/welcome from server within 3 s", byPeer: false)

    @Test("a quiet handshake is challenge-lost, a quiet session downlink-quiet, each with its attempt's id and mode; answer-lost has no id")
    func findingsCarryTheirAttempt() {
        let policy = LinkPolicy()
        policy.noteConnected(connectionId: "k_first", mode: .text)
        _ = policy.learn(from: timeout, welcomed: false, downlinkQuiet: true, welcomeLost: false, now: t0)
        policy.noteConnected(connectionId: "k_second", mode: .binary)
        _ = policy.learn(from: timeout, welcomed: false, downlinkQuiet: false, welcomeLost: true, now: t0.addingTimeInterval(5))
        policy.noteConnected(connectionId: "k_third", mode: .binary)
        _ = policy.learn(from: LinkClosure(code: CloseCode.deadlineExpired.rawValue, reason: "quiet", byPeer: false), welcomed: true,
                         downlinkQuiet: true, welcomeLost: false, now: t0.addingTimeInterval(9))
        policy.learnAnswerLost(now: t0.addingTimeInterval(12))
        let findings = policy.history.findings
        #expect(findings.map(\.kind) == [.challengeLost, .welcomeLost, .downlinkQuiet, .answerLost])
        #expect(findings.map(\.connectionId) == ["k_first", "k_second", "k_third", nil])
        #expect(findings.map(\.downlinkMode) == [.text, .binary, .binary, .binary])
        #expect(findings.allSatisfy { $0.rangeProblem() == nil })
        // Delivered ones are forgotten, later ones kept.
        policy.forgetFindings(through: t0.addingTimeInterval(9).timeIntervalSince1970)
        #expect(policy.history.findings.map(\.kind) == [.answerLost])
    }

    @Test("at most 8 findings are kept, the newest; a new one makes a report due at once")
    func boundedAndReportedAtOnce() {
        let policy = LinkPolicy()
        var rhythm = LinkReportRhythm(now: t0)
        var counters = LinkCounters()
        counters.lastDataIn = t0.timeIntervalSince1970
        counters.lastControlIn = t0.timeIntervalSince1970
        rhythm.sent(counters: counters, heartbeatInterval: 15, now: t0)
        let quietBefore = rhythm.due(counters: counters, heartbeatInterval: 15, now: t0.addingTimeInterval(1), policy: policy)
        #expect(!quietBefore)
        for i in 0..<12 { policy.find(.workRefused, detail: "forged \(i)", now: t0.addingTimeInterval(Double(i))) }
        #expect(policy.history.findings.count == LinkFinding.maxPerReport)
        #expect(policy.history.findings.last?.detail == "forged 11")
        let dueOnFinding = rhythm.due(counters: counters, heartbeatInterval: 15, now: t0.addingTimeInterval(12), policy: policy)
        #expect(dueOnFinding)
        let dueAgain = rhythm.due(counters: counters, heartbeatInterval: 15, now: t0.addingTimeInterval(13), policy: policy)
        #expect(!dueAgain, "said once")
    }
}
