import Foundation
import RMMAPI
import RMMProtocol
import RMMStore
import Testing
@testable import RMMServer
@testable import gururmm

/// `gururmm diagnose`'s history line: the verdict before this diagnosis, never hidden by it.
@Suite struct DiagnoseHistoryLineTests {
    static let start = Date(timeIntervalSince1970: 1_800_000_000)

    static func diagnosis(_ verdict: LinkVerdict) -> LinkDiagnosis {
        LinkDiagnosis(agentId: "a", verdict: verdict, summary: "now", trigger: "operator", startedAt: start, finishedAt: start + 2,
                      largestPassedBytes: nil, firstBadMessage: nil, pongRttMs: nil, probes: [], server: nil, agent: nil,
                      agentReportAt: nil, pongRtt: nil, actions: [])
    }

    static func entry(_ verdict: LinkVerdict, firstAt: Date, lastAt: Date, count: Int) -> VerdictView {
        VerdictView(VerdictRecord(agentId: "a", verdict: verdict, source: .serverProbe, stage: .session, summary: "why",
                                  evidence: Data("{}".utf8), firstAt: firstAt, lastAt: lastAt, count: count), withEvidence: false)
    }

    @Test func aRepeatedAdverseVerdictExtendedByThisDiagnosisIsShownWithItsFirstTime() {
        let earlier = Self.start - 3 * 3600
        let line = DiagnoseCommand.historyLine(fresh: Self.diagnosis(.halfOpen), mode: nil,
                                               history: [Self.entry(.halfOpen, firstAt: earlier, lastAt: Self.start + 1, count: 2)])
        #expect(!line.contains("no adverse verdict recorded before"), "\(line)")
        #expect(line.contains(ISO8601DateFormatter().string(from: earlier)), "\(line)")
    }

    @Test func theEntryThisDiagnosisAddedIsSkipped() {
        let line = DiagnoseCommand.historyLine(fresh: Self.diagnosis(.halfOpen), mode: nil,
                                               history: [Self.entry(.halfOpen, firstAt: Self.start + 1, lastAt: Self.start + 1, count: 1)])
        #expect(line.hasSuffix("no adverse verdict recorded before"), "\(line)")
    }
}
