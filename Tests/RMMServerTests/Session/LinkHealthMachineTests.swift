import Foundation
import RMMAPI
import RMMProtocol
import Testing
@testable import RMMServer

/// The session's link-health state without sockets: diagnoses, healing, packet limits and probes.
@Suite("LinkHealthMachine")
struct LinkHealthMachineTests {
    let t0 = Fixture.t0

    private func conclusion(_ action: LinkAction, largestPassed: Int? = nil) -> LinkConclusion {
        LinkConclusion(verdict: .healthy, stage: .session, summary: "test", action: action, largestPassedBytes: largestPassed)
    }

    @Test("one diagnosis at a time")
    func oneDiagnosis() {
        var health = LinkHealthMachine()
        #expect(health.beginDiagnosis() == true)
        #expect(health.beginDiagnosis() == false)
        #expect(health.diagnosing)
        _ = health.finishDiagnosis(conclusion(.none), examinedEpoch: 1, currentEpoch: 1)
        #expect(!health.diagnosing)
        #expect(health.beginDiagnosis() == true)
    }

    @Test("an overdue command starts an automatic diagnosis, no more often than the spacing, never while one runs")
    func autoDiagnosis() {
        var health = LinkHealthMachine()
        #expect(LinkHealthMachine.autoDiagnosisSpacing(ackDeadline: 10) == 20)
        #expect(LinkHealthMachine.autoDiagnosisSpacing(ackDeadline: 2) == 10)
        #expect(health.autoDiagnosis(overdue: nil, now: t0, ackDeadline: 10) == nil)
        #expect(health.autoDiagnosis(overdue: ("c1", 12.5), now: t0, ackDeadline: 10) == "auto: command c1 unacknowledged for 12 s")
        #expect(health.lastAutoDiagnosis == t0)
        #expect(health.autoDiagnosis(overdue: ("c1", 20), now: Fixture.at(19), ackDeadline: 10) == nil)
        #expect(health.autoDiagnosis(overdue: ("c1", 32), now: Fixture.at(20), ackDeadline: 10) != nil)
        #expect(health.beginDiagnosis() == true)
        #expect(health.autoDiagnosis(overdue: ("c1", 60), now: Fixture.at(60), ackDeadline: 10) == nil)
    }

    @Test("the automatic diagnosis is due at the oldest command write plus the ack deadline, no sooner than the spacing")
    func autoDiagnosisDue() {
        var health = LinkHealthMachine()
        #expect(health.autoDiagnosisDue(oldestCommandWrite: nil, ackDeadline: 10) == nil)
        #expect(health.autoDiagnosisDue(oldestCommandWrite: t0, ackDeadline: 10) == Fixture.at(10))
        _ = health.autoDiagnosis(overdue: ("c1", 10), now: Fixture.at(5), ackDeadline: 10)
        #expect(health.autoDiagnosisDue(oldestCommandWrite: t0, ackDeadline: 10) == Fixture.at(25))
    }

    @Test("each verdict action's response on the connection")
    func heal() {
        let health = LinkHealthMachine()
        #expect(health.heal(.none) == .init(operation: nil, words: []))
        #expect(health.heal(.switchToBinary).operation == .close(.switchDownlink, reason: "downlink=binary"))
        #expect(health.heal(.switchToPoll).operation == .close(.switchDownlink, reason: "downlink=poll"))
        #expect(health.heal(.noFallbackLeft).operation == nil)
        #expect(health.heal(.noFallbackLeft).words == ["already on the long-poll downlink; no further fallback"])
        #expect(health.heal(.shrinkPackets).operation == .capThenClose(cap: 1024, .shrinkPackets, reason: "mss=\(PacketLimits.clampedMSS) cap=1024"))
        #expect(health.heal(.rebuildSession).operation == .close(.agentStalled, reason: "agent consumer stalled; rebuild the session"))
        #expect(health.heal(.resetCodec).operation == .close(.protocolDesync, reason: "decode errors; reconnect with fresh codec state"))
        #expect(health.heal(.closeBlocked).operation == .close(.writeBlocked, reason: "server cannot write to this connection"))
        #expect(health.heal(.dropConnection).operation == .abort)
    }

    @Test("only the connection examined is healed; offline, nothing")
    func healsOnlyTheExaminedConnection() {
        var health = LinkHealthMachine()
        let newer = health.finishDiagnosis(conclusion(.closeBlocked), examinedEpoch: 1, currentEpoch: 2)
        #expect(newer == .init(operation: nil, words: ["the agent had already reconnected; the new connection was left alone"]))
        #expect(health.finishDiagnosis(conclusion(.closeBlocked), examinedEpoch: nil, currentEpoch: 2) == .init(operation: nil, words: []))
        #expect(health.finishDiagnosis(conclusion(.closeBlocked), examinedEpoch: 2, currentEpoch: 2).operation == .close(.writeBlocked, reason: "server cannot write to this connection"))
    }

    @Test("a size blackhole caps messages and requires a clamped MSS on every later connection, even when found on an old one")
    func sizeBlackhole() {
        var health = LinkHealthMachine()
        #expect(health.requiredPacketLimits(agentMSS: nil) == nil)
        #expect(health.messageCap(configured: 65536) == 65536)
        let healing = health.finishDiagnosis(conclusion(.shrinkPackets, largestPassed: 4096), examinedEpoch: 1, currentEpoch: 2)
        #expect(healing.operation == nil)
        #expect(health.messageCapOverride == 2048 && health.needsClampedMSS)
        #expect(health.messageCap(configured: 65536) == 2048)
        #expect(health.messageCap(configured: 1500) == 1500)
        let limits = "mss=\(PacketLimits.clampedMSS) cap=2048"
        #expect(health.requiredPacketLimits(agentMSS: nil) == limits)
        #expect(health.requiredPacketLimits(agentMSS: PacketLimits.clampedMSS + 1) == limits)
        #expect(health.requiredPacketLimits(agentMSS: PacketLimits.clampedMSS) == nil)
        // Nothing known of what passed: the smallest cap.
        var unknown = LinkHealthMachine()
        _ = unknown.finishDiagnosis(conclusion(.shrinkPackets), examinedEpoch: 1, currentEpoch: 1)
        #expect(unknown.messageCapOverride == 1024)
    }

    @Test("probes: numbered, their round trip measured from when they were sent; an expired or unknown one measures 0")
    func probes() {
        var health = LinkHealthMachine()
        let first = health.probeSent(now: t0)
        let second = health.probeSent(now: t0)
        #expect(first == 1 && second == 2)
        #expect(health.probeReplied(first, now: t0.addingTimeInterval(0.25)) == 250)
        #expect(health.probeReplied(first, now: t0.addingTimeInterval(1)) == 0, "answered once")
        health.probeExpired(second)
        #expect(health.probeReplied(second, now: t0.addingTimeInterval(1)) == 0)
    }

    @Test("the agent's report is evidence of one connection; the last diagnosis outlives connections")
    func evidence() {
        var health = LinkHealthMachine()
        let report = LinkReport(side: LinkSideReport(counters: LinkCounters(), tcp: nil, queuedBytes: nil, downlinkMode: .text, time: 0),
                                reconnects: [], agentFinding: "quiet", consumerStalledSeconds: 0)
        health.agentReported(report, now: t0)
        #expect(health.agentReport == .init(report: report, at: t0))
        let diagnosis = LinkDiagnosis(agentId: "a1", verdict: .pathFiltersData, summary: "data lost", trigger: "operator", startedAt: t0, finishedAt: t0,
                                      largestPassedBytes: nil, firstBadMessage: nil, pongRttMs: nil, probes: [], server: nil, agent: nil,
                                      agentReportAt: nil, pongRtt: nil, actions: ["asked the agent to reconnect with the binary downlink"])
        health.diagnosed(diagnosis)
        health.connected()
        #expect(health.agentReport == nil)
        #expect(health.lastDiagnosis == diagnosis)
        #expect(LinkHealthMachine.diagnosisNote(diagnosis)
                == "link diagnosis (operator): path-filters-data: data lost; action: asked the agent to reconnect with the binary downlink")
        var quiet = diagnosis
        quiet.actions = []
        #expect(LinkHealthMachine.diagnosisNote(quiet) == "link diagnosis (operator): path-filters-data: data lost")
    }
}
