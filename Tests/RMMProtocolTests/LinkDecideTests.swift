import Foundation
import Testing
@testable import RMMProtocol

/// `LinkVerdict.decide`: every verdict's evidence pattern, and the evidence it asks for on the way.
/// Pure: no sockets, no clock.
@Suite("Link verdicts: decide")
struct LinkDecideTests {
    static let t0 = 1_750_000_000.0

    static func side(writable: Bool = true, queued: Int = 0, mode: DownlinkMode = .text, lastDataIn: Double? = nil, time: Double = t0) -> LinkSideReport {
        var counters = LinkCounters()
        counters.isWritable = writable
        counters.lastDataIn = lastDataIn
        return LinkSideReport(counters: counters, tcp: nil, queuedBytes: queued, downlinkMode: mode, time: time)
    }

    static func report(received: Int = 5, handled: Int = 5, stalled: Double = 0, decodeErrors: Int = 0) -> LinkReport {
        var counters = LinkCounters()
        counters.messagesReceived = received
        counters.messagesHandled = handled
        counters.decodeErrors = decodeErrors
        return LinkReport(side: LinkSideReport(counters: counters, tcp: nil, queuedBytes: 0, downlinkMode: .text, time: t0),
                          reconnects: [], agentFinding: nil, consumerStalledSeconds: stalled)
    }

    /// A connected server diagnosis in `mode`, ping answered (or not).
    static func probing(mode: DownlinkMode = .text, pong: Double? = 12) -> LinkEvidence {
        var e = LinkEvidence(source: .serverProbe, now: t0 + 5, startedAt: t0, downlinkMode: mode)
        e.server = side(mode: mode)
        e.pingSent = true
        e.pongRttMs = pong
        return e
    }

    static func plain(_ mode: DownlinkMode, passedUpTo: Int?) -> [ProbeResult] {
        var out: [ProbeResult] = []
        for size in LinkProbePlan.sizes {
            let passed = passedUpTo.map { size <= $0 } ?? false
            out.append(ProbeResult(size: size, encoding: mode.rawValue, shape: .plain, passed: passed, rttMs: passed ? 1 : nil))
            if !passed { break }
        }
        return out
    }

    static func conclusion(_ e: LinkEvidence) throws -> LinkConclusion {
        let decision = LinkVerdict.decide(e)
        return try #require(decision.conclusion, "expected a verdict, got \(decision)")
    }

    // MARK: server diagnosis

    @Test("no connection → agent-offline")
    func offline() throws {
        let c = try Self.conclusion(LinkEvidence(source: .serverProbe, now: Self.t0, connected: false))
        #expect(c.verdict == .agentOffline)
        #expect(c.action == .none)
    }

    @Test("unwritable with bytes queued: look again; still stuck and not shrinking → write-blocked (H5)")
    func writeBlocked() throws {
        var e = Self.probing()
        e.pingSent = false
        e.server = Self.side(writable: false, queued: 100)
        #expect(LinkVerdict.decide(e) == .gather(.recheckWritability(afterSeconds: LinkProbePlan.writabilityRecheck)))
        e.serverRecheck = Self.side(writable: false, queued: 120)
        let c = try Self.conclusion(e)
        #expect(c.verdict == .writeBlocked)
        #expect(c.action == .closeBlocked)
        #expect(c.summary.contains("120 bytes queued"))
    }

    @Test("unwritable only for a moment: the diagnosis goes on to the ping")
    func brieflyUnwritable() {
        var e = Self.probing()
        e.pingSent = false
        e.server = Self.side(writable: false, queued: 100)
        e.serverRecheck = Self.side(writable: true, queued: 0)
        #expect(LinkVerdict.decide(e) == .gather(.ping(timeoutSeconds: LinkProbePlan.probeTimeout)))
    }

    @Test("the agent's report counts decode errors → protocol-desync (H4), codec reset")
    func desyncFromReport() throws {
        var e = Self.probing()
        e.agent = Self.report(decodeErrors: 2)
        e.agentReportAt = Self.t0 - 1
        let c = try Self.conclusion(e)
        #expect(c.verdict == .protocolDesync)
        #expect(c.action == .resetCodec)
        #expect(c.firstBadMessage == "undecodable frame")
    }

    @Test("the agent closed with 1007 → protocol-desync (agent report), no action of ours")
    func desyncFromClose() throws {
        var e = LinkEvidence(source: .agentReport, now: Self.t0)
        e.agentClose = AgentCloseFact(epoch: 3, code: 1007, reason: "malformed: body")
        let c = try Self.conclusion(e)
        #expect(c.verdict == .protocolDesync)
        #expect(c.firstBadMessage == "malformed: body")
        #expect(c.action == .none)
    }

    @Test("asks for the ping first, then data echoes smallest first, in the current mode")
    func gatherOrder() {
        var e = Self.probing()
        e.pingSent = false
        #expect(LinkVerdict.decide(e) == .gather(.ping(timeoutSeconds: 3)))
        e.pingSent = true
        #expect(LinkVerdict.decide(e) == .gather(.probe(size: 64, encoding: .text, shape: .plain, timeoutSeconds: 3)))
        e.probes = [ProbeResult(size: 64, encoding: "text", shape: .plain, passed: true, rttMs: 1)]
        #expect(LinkVerdict.decide(e) == .gather(.probe(size: 1024, encoding: .text, shape: .plain, timeoutSeconds: 3)))
    }

    @Test("every size and the command shape pass → healthy")
    func healthy() throws {
        var e = Self.probing()
        e.probes = Self.plain(.text, passedUpTo: 65_536)
        #expect(LinkVerdict.decide(e) == .gather(.probe(size: 4096, encoding: .text, shape: .command, timeoutSeconds: 3)))
        e.probes.append(ProbeResult(size: 4096, encoding: "text", shape: .command, passed: true, rttMs: 1))
        let c = try Self.conclusion(e)
        #expect(c.verdict == .healthy)
        #expect(c.action == .none)
    }

    @Test("plain passes, the command shape is lost in text, binary command passes → path-filters-data (content inspection), binary")
    func contentInspection() throws {
        var e = Self.probing()
        e.probes = Self.plain(.text, passedUpTo: 65_536) + [ProbeResult(size: 4096, encoding: "text", shape: .command, passed: false, rttMs: nil)]
        #expect(LinkVerdict.decide(e) == .gather(.probe(size: 4096, encoding: .binary, shape: .command, timeoutSeconds: 3)))
        e.probes.append(ProbeResult(size: 4096, encoding: "binary", shape: .command, passed: true, rttMs: 1))
        let c = try Self.conclusion(e)
        #expect(c.verdict == .pathFiltersData)
        #expect(c.summary.contains("inspects content"))
        #expect(c.action == .switchToBinary)
    }

    @Test("small echoes pass, 16 KiB is lost → size-blackhole (H1) with the largest size, packets shrunk")
    func sizeBlackhole() throws {
        var e = Self.probing()
        e.probes = Self.plain(.text, passedUpTo: 4096)
        let c = try Self.conclusion(e)
        #expect(c.verdict == .sizeBlackhole)
        #expect(c.largestPassedBytes == 4096)
        #expect(c.action == .shrinkPackets)
    }

    @Test("text lost, binary 64 B passes → path-filters-data, binary downlink")
    func textFiltered() throws {
        var e = Self.probing()
        e.probes = Self.plain(.text, passedUpTo: nil)
        #expect(LinkVerdict.decide(e) == .gather(.probe(size: 64, encoding: .binary, shape: .plain, timeoutSeconds: 3)))
        e.probes.append(ProbeResult(size: 64, encoding: "binary", shape: .plain, passed: true, rttMs: 1))
        let c = try Self.conclusion(e)
        #expect(c.verdict == .pathFiltersData)
        #expect(c.action == .switchToBinary)
    }

    static func nothingPasses(pong: Double?) -> LinkEvidence {
        var e = probing(pong: pong)
        e.probes = plain(.text, passedUpTo: nil) + [ProbeResult(size: 64, encoding: "binary", shape: .plain, passed: false, rttMs: nil)]
        return e
    }

    @Test("no pong, nothing passes, a large frame went out right after the downlink was proven → size-blackhole")
    func blackholeWithoutPong() throws {
        var e = Self.nothingPasses(pong: nil)
        e.oldestUnacked = UnackedWriteFact(bytes: 5000, provenBefore: true)
        let c = try Self.conclusion(e)
        #expect(c.verdict == .sizeBlackhole)
        #expect(c.action == .shrinkPackets)
    }

    @Test("no pong and nothing passes otherwise → half-open (H7), connection dropped",
          arguments: [nil, UnackedWriteFact(bytes: 5000, provenBefore: false), UnackedWriteFact(bytes: 300, provenBefore: true)])
    func halfOpen(unacked: UnackedWriteFact?) throws {
        var e = Self.nothingPasses(pong: nil)
        e.oldestUnacked = unacked
        let c = try Self.conclusion(e)
        #expect(c.verdict == .halfOpen)
        #expect(c.action == .dropConnection)
    }

    @Test("pongs pass, data does not: wait for the agent's report; a backlog in it → agent-stalled (H2)")
    func agentStalled() throws {
        var e = Self.nothingPasses(pong: 10)
        #expect(LinkVerdict.decide(e) == .gather(.agentReport(timeoutSeconds: LinkProbePlan.agentReportTimeout)))
        e.agentReportAwaited = true
        e.agent = Self.report(received: 9, handled: 4, stalled: 3)
        e.agentReportAt = Self.t0 + 2
        let c = try Self.conclusion(e)
        #expect(c.verdict == .agentStalled)
        #expect(c.action == .rebuildSession)
    }

    @Test("a report from before the diagnosis that already says the consumer is stuck counts (no wait)")
    func stalledEarlier() throws {
        var e = Self.nothingPasses(pong: 10)
        e.agent = Self.report(received: 9, handled: 4, stalled: 3)
        e.agentReportAt = Self.t0 - 10
        #expect(try Self.conclusion(e).verdict == .agentStalled)
        e.agentReportAt = Self.t0 - 60  // too old to count
        #expect(LinkVerdict.decide(e) == .gather(.agentReport(timeoutSeconds: LinkProbePlan.agentReportTimeout)))
    }

    @Test("pongs pass, data does not, the agent's fresh report shows an idle consumer → path-filters-data (H3), poll")
    func pathFilters() throws {
        var e = Self.nothingPasses(pong: 10)
        e.agentReportAwaited = true
        e.agent = Self.report()
        e.agentReportAt = Self.t0 + 2
        let c = try Self.conclusion(e)
        #expect(c.verdict == .pathFiltersData)
        #expect(c.summary.contains("dropped on the way down"))
        #expect(c.action == .switchToPoll)
    }

    @Test("no report in time: our counters say whether the agent's data still reaches us")
    func pathFiltersWithoutReport() throws {
        var e = Self.nothingPasses(pong: 10)
        e.agentReportAwaited = true
        e.serverLatest = Self.side(lastDataIn: Self.t0 + 1)
        let c = try Self.conclusion(e)
        #expect(c.verdict == .pathFiltersData)
        #expect(c.summary.contains("still reach us"))
        e.serverLatest = Self.side(lastDataIn: Self.t0 - 100)
        #expect(try Self.conclusion(e).summary.contains("in either direction"))
    }

    @Test("already on the poll downlink: path-filters-data, no further fallback")
    func noFallbackLeft() throws {
        var e = Self.probing(mode: .poll)
        e.probes = Self.plain(.poll, passedUpTo: nil)
        e.agentReportAwaited = true
        #expect(try Self.conclusion(e).action == .noFallbackLeft)
    }

    @Test("a driver that answers every request ends with a verdict within a bounded number of steps",
          arguments: [true, false])
    func terminates(everythingPasses: Bool) {
        var e = LinkEvidence(source: .serverProbe, now: Self.t0, downlinkMode: .text)
        e.server = Self.side()
        var steps = 0
        while case .gather(let step) = LinkVerdict.decide(e) {
            steps += 1
            if steps > 20 { break }
            switch step {
            case .recheckWritability: e.serverRecheck = Self.side()
            case .ping: e.pingSent = true; e.pongRttMs = everythingPasses ? 1 : nil
            case .probe(let size, let encoding, let shape, _):
                e.probes.append(ProbeResult(size: size, encoding: encoding.rawValue, shape: shape, passed: everythingPasses, rttMs: nil))
            case .agentReport: e.agentReportAwaited = true
            }
        }
        #expect(steps <= 12)
        #expect(LinkVerdict.decide(e).conclusion?.verdict == (everythingPasses ? .healthy : .halfOpen))
    }

    // MARK: superseded, handshakes, agent findings

    @Test("a new connection replaced one still held open → superseded (H6) with its evidence")
    func superseded() throws {
        var e = LinkEvidence(source: .serverProbe, now: Self.t0)
        e.superseded = SupersededFact(oldEpoch: 4, newEpoch: 5, secondsSinceData: 42, unacknowledgedMoved: 3)
        let c = try Self.conclusion(e)
        #expect(c.verdict == .superseded)
        #expect(c.summary.contains("epoch 4"))
        #expect(c.summary.contains("42 s"))
        #expect(c.summary.contains("3 unacknowledged"))
    }

    static func attempt(stage: LinkStage = .challenge, id: String? = "k_abc") -> HandshakeFact {
        HandshakeFact(connectionId: id, address: "192.0.2.7", stage: stage, downlinkMode: .text, challengeWritten: stage != .tls,
                      controlFramesIn: 2, dataFramesIn: 0, closeReason: "4005: no hello within 10 s", openedAt: t0, closedAt: t0 + 10)
    }

    @Test("a failed handshake alone → handshake-incomplete, naming the stage")
    func handshakeAlone() throws {
        var e = LinkEvidence(source: .handshake, now: Self.t0)
        e.handshake = Self.attempt()
        var c = try Self.conclusion(e)
        #expect(c.verdict == .handshakeIncomplete)
        #expect(c.stage == .challenge)
        #expect(c.summary.contains("challenge") && c.summary.contains("2 control frame"))
        e.handshake = Self.attempt(stage: .tls, id: nil)
        c = try Self.conclusion(e)
        #expect(c.verdict == .handshakeIncomplete)
        #expect(c.stage == .tls)
        #expect(c.summary.contains("TLS or the upgrade never completed"))
    }

    static func finding(_ kind: LinkFinding.Kind, id: String? = "k_abc") -> LinkFinding {
        LinkFinding(kind: kind, time: t0 + 11, connectionId: id, downlinkMode: .text, detail: "detail")
    }

    @Test("a failed handshake with the agent's finding about the same attempt → the real verdict, at the handshake stage",
          arguments: [
            (LinkFinding.Kind.challengeLost, LinkVerdict.pathFiltersData, LinkStage.challenge),
            (.downlinkQuiet, .pathFiltersData, .challenge),
            (.welcomeLost, .sizeBlackhole, .welcome),
            (.answerLost, .sizeBlackhole, .tls),
          ])
    func handshakeAttributed(kind: LinkFinding.Kind, verdict: LinkVerdict, stage: LinkStage) throws {
        var e = LinkEvidence(source: .handshake, now: Self.t0 + 20)
        e.handshake = Self.attempt()
        e.finding = Self.finding(kind)
        let c = try Self.conclusion(e)
        #expect(c.verdict == verdict)
        #expect(c.stage == stage)
        #expect(c.stage.isHandshake)
    }

    @Test("each agent finding on its own → its verdict (agent report), no action of ours",
          arguments: [
            (LinkFinding.Kind.challengeLost, LinkVerdict.pathFiltersData, LinkStage.challenge),
            (.downlinkQuiet, .pathFiltersData, .session),
            (.welcomeLost, .sizeBlackhole, .welcome),
            (.answerLost, .sizeBlackhole, .tls),
            (.consumerStalled, .agentStalled, .session),
            (.watchdog, .agentStalled, .session),
            (.workRefused, .pathAltersData, .session),
          ])
    func agentFindings(kind: LinkFinding.Kind, verdict: LinkVerdict, stage: LinkStage) throws {
        var e = LinkEvidence(source: .agentReport, now: Self.t0)
        e.finding = Self.finding(kind)
        let c = try Self.conclusion(e)
        #expect(c.verdict == verdict)
        #expect(c.stage == stage)
        #expect(c.action == .none)
    }

    @Test("words from the network reach the summary with control characters escaped")
    func hostileWordsEscaped() throws {
        var e = LinkEvidence(source: .agentReport, now: Self.t0)
        e.finding = LinkFinding(kind: .workRefused, time: Self.t0, connectionId: nil, downlinkMode: .text, detail: "bad\u{1B}[2Jframe\n")
        let c = try Self.conclusion(e)
        #expect(!c.summary.contains("\u{1B}") && !c.summary.contains("\n"), "\(c.summary)")
        var h = LinkEvidence(source: .handshake, now: Self.t0)
        var fact = Self.attempt()
        fact.closeReason = "peer closed\u{07} with 1000"
        h.handshake = fact
        #expect(!(try Self.conclusion(h)).summary.contains("\u{07}"))
    }

    @Test("every finding kind has a verdict, and every verdict but healthy and agent-offline is adverse")
    func coverage() {
        for kind in LinkFinding.Kind.allCases {
            var e = LinkEvidence(source: .agentReport, now: Self.t0)
            e.finding = Self.finding(kind)
            #expect(LinkVerdict.decide(e).conclusion != nil)
        }
        for verdict in LinkVerdict.allCases {
            #expect(verdict.isAdverse == (verdict != .healthy && verdict != .agentOffline))
            #expect(!verdict.headline.isEmpty)
        }
    }

    @Test("findings on the wire: range-checked, clipped detail, at most 8 per report")
    func findingRanges() {
        var finding = Self.finding(.challengeLost)
        #expect(finding.rangeProblem() == nil)
        #expect(LinkFinding(kind: .watchdog, time: Self.t0, connectionId: nil, downlinkMode: .text, detail: String(repeating: "x", count: 500)).detail.utf8.count == 120)
        finding.time = .nan
        #expect(finding.rangeProblem() != nil)
        finding.time = Self.t0
        finding.connectionId = String(repeating: "k", count: 300)
        #expect(finding.rangeProblem() != nil)
        var report = Self.report()
        report.findings = Array(repeating: Self.finding(.downlinkQuiet), count: 9)
        #expect(report.rangeProblem()?.contains("findings") == true)
    }
}
