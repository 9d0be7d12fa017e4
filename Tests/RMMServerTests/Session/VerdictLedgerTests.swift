import Foundation
import RMMProtocol
import RMMStore
import Testing
@testable import RMMServer

/// The session's verdict history without a store: the newest verdict, judged findings, the window.
@Suite("VerdictLedger")
struct VerdictLedgerTests {
    let t0 = Fixture.t0

    private func entry(id: Int64?, count: Int = 1, verdict: LinkVerdict = .pathFiltersData) -> VerdictRecord {
        VerdictRecord(id: id, agentId: "a1", verdict: verdict, source: .agentReport, stage: .session, summary: "data lost",
                      evidence: Data(), firstAt: t0, count: count)
    }

    private func finding(_ time: Double, kind: LinkFinding.Kind = .downlinkQuiet, connection: String? = nil) -> LinkFinding {
        LinkFinding(kind: kind, time: time, connectionId: connection, downlinkMode: .text, detail: "d")
    }

    /// Admits every finding of `findings` at `now`, as the session's loop does: stops at `.full`.
    private func admitAll(_ ledger: inout VerdictLedger, _ findings: [LinkFinding], now: Date) -> (admitted: [Double], logs: [String]) {
        var admitted: [Double] = []
        var logs: [String] = []
        for index in findings.indices {
            let (admission, lines) = ledger.admit(findings, at: index, now: now)
            logs += lines
            if admission == .full { break }
            if admission == .judge { admitted.append(findings[index].time) }
        }
        return (admitted, logs)
    }

    @Test("the newest verdict: a recorded one wins over an older one resuming late, and over the store's read")
    func newest() {
        var ledger = VerdictLedger()
        #expect(ledger.current(storedLatest: entry(id: 1)) == entry(id: 1), "not known yet: the store's")
        let first = ledger.recorded(entry(id: 5))
        let repeated = ledger.recorded(entry(id: 4, count: 2))
        #expect(first)
        #expect(!repeated, "a repeat is not logged again")
        #expect(ledger.latest?.id == 5, "an older entry never replaces a newer one")
        ledger.loaded(entry(id: 1))
        #expect(ledger.latest?.id == 5, "a verdict recorded while the store read was in flight wins")
        #expect(ledger.current(storedLatest: nil)?.id == 5)

        var fresh = VerdictLedger()
        fresh.loaded(nil)
        #expect(fresh.latestLoaded && fresh.latest == nil)
        #expect(fresh.current(storedLatest: entry(id: 3)) == nil, "the store had none: none")
    }

    @Test("a finding is judged once; one whose verdict was not recorded may be judged again")
    func judgedOnce() {
        var ledger = VerdictLedger()
        let findings = [finding(1), finding(2, connection: "conn-1")]
        #expect(admitAll(&ledger, findings, now: t0).admitted == [1, 2])
        #expect(admitAll(&ledger, findings, now: t0).admitted.isEmpty)
        ledger.judgingFailed(findings[1])
        #expect(admitAll(&ledger, findings, now: t0).admitted == [2])
        #expect(VerdictLedger.key(findings[1]) == "downlink-quiet|2.0|conn-1")
    }

    @Test("at most eight new findings per 10 s window; the first drop is logged at once, later ones when the window ends")
    func window() {
        var ledger = VerdictLedger()
        let first = (0..<10).map { finding(Double($0)) }
        let (admitted, logs) = admitAll(&ledger, first, now: t0)
        #expect(admitted.count == LinkFinding.maxPerReport)
        #expect(logs == ["ignored 2 agent findings beyond 8 per 10 s"])
        // Still the same window: dropped silently, counted.
        let more = (10..<13).map { finding(Double($0)) }
        let again = admitAll(&ledger, more, now: Fixture.at(5))
        #expect(again.admitted.isEmpty && again.logs.isEmpty)
        // A new window: the count of the silent drops is logged, and findings are judged again.
        let later = admitAll(&ledger, [finding(20)], now: Fixture.at(10))
        #expect(later.admitted == [20])
        #expect(later.logs.count == 1)
        #expect(later.logs.first?.hasPrefix("ignored 3 more agent findings beyond 8 in the 10 s after ") == true)
    }

    @Test("a clock that went back starts a new window")
    func clockBack() {
        var ledger = VerdictLedger()
        _ = admitAll(&ledger, (0..<8).map { finding(Double($0)) }, now: Fixture.at(100))
        #expect(admitAll(&ledger, [finding(50)], now: Fixture.at(100)).admitted.isEmpty)
        #expect(admitAll(&ledger, [finding(51)], now: Fixture.at(50)).admitted == [51])
    }

    @Test("the evidence of a finding: an agent report's, or a handshake's when the book held the attempt; dated no later than now")
    func evidence() {
        let report = LinkReport(side: LinkSideReport(counters: LinkCounters(), tcp: nil, queuedBytes: nil, downlinkMode: .text, time: 0),
                                reconnects: [], agentFinding: nil, consumerStalledSeconds: 0)
        let future = finding(t0.timeIntervalSince1970 + 60, kind: .challengeLost, connection: "conn-1")
        let plain = VerdictLedger.evidence(for: future, of: report, handshake: nil, now: t0)
        #expect(plain.at == t0)
        #expect(plain.evidence.source == .agentReport)
        #expect(plain.evidence.finding == future && plain.evidence.agent == report)
        let fact = HandshakeFact(connectionId: "conn-1", address: "192.0.2.1", stage: .challenge, downlinkMode: .binary, challengeWritten: true,
                                 controlFramesIn: 1, dataFramesIn: 0, closeReason: "timeout", openedAt: 0, closedAt: 1)
        let joined = VerdictLedger.evidence(for: finding(5), of: report, handshake: fact, now: t0)
        #expect(joined.at == Date(timeIntervalSince1970: 5))
        #expect(joined.evidence.source == .handshake)
        #expect(joined.evidence.handshake == fact)
        #expect(joined.evidence.downlinkMode == .binary)
    }

    @Test("the delay note names the verdict and source once, then the stage, time and summary")
    func delayNote() {
        let (note, once) = VerdictLedger.delayNote(for: entry(id: 1))
        #expect(once == "delayed by link verdict path-filters-data (agent-report, ")
        #expect(note.hasPrefix(once + "session) since "))
        #expect(note.hasSuffix(": data lost"))
    }
}
