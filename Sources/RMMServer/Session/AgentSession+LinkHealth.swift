import Foundation
import RMMAPI
import RMMProtocol
import RMMStore
import RMMTransport

// The session's link-health side: evidence, probes, and the response to each verdict.
// `LinkDiagnoser` decides; these methods measure and act on the session's current connection.
extension AgentSession {

    /// The server's side of the current link, and the agent's latest report; nil when offline.
    func linkEvidence(epoch: Int? = nil) async -> (server: LinkSideReport, agent: LinkReport?, agentAt: Date?)? {
        guard let link = link(of: epoch) else { return nil }
        let (tcp, queued) = await link.transportState()
        let side = LinkSideReport(counters: link.counters, tcp: tcp, queuedBytes: queued, downlinkMode: link.sendMode, time: Date().timeIntervalSince1970)
        return (side, health.agentReport?.report, health.agentReport?.at)
    }

    /// Sends a WebSocket ping and waits for its pong; returns the round trip in ms, nil on timeout.
    func pingAndWait(epoch: Int, timeout: Double) async -> Double? {
        guard let link = link(of: epoch) else { return nil }
        let before = link.counters.pongsReceived
        link.ping()
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let counters = link.counters
            if counters.pongsReceived > before { return counters.lastPongRttMs }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }

    /// Sends one probe frame of `size` bytes and waits for the agent's reply; nil if none in time.
    func probe(epoch: Int, size: Int, encoding: DownlinkMode, shape: Probe.Shape, timeout: Double) async -> Double? {
        guard let link = link(of: epoch) else { return nil }
        let id = health.probeSent(now: Date())
        guard let frame = ProbeFrames.encode(id: id, size: size, shape: shape) else {
            health.probeExpired(id)
            return nil
        }
        switch encoding {
        case .text: link.sendFrame(frame, binary: false)
        case .binary: link.sendFrame(OpaqueFraming.wrap(frame), binary: true)
        case .poll: link.sendEncoded(frame)
        }
        Task { [weak self] in
            try? await Task.sleep(for: .milliseconds(Int(timeout * 1000)))
            await self?.expireProbe(id)
        }
        return await withCheckedContinuation { probeWaiters[id] = $0 }
    }

    private func expireProbe(_ id: Int) {
        health.probeExpired(id)
        probeWaiters.removeValue(forKey: id)?.resume(returning: nil)
    }

    /// Waits for an agent link report received after `since`.
    func agentReport(since: Date, timeout: Double) async -> (LinkReport, Date)? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let report = health.agentReport, report.at > since { return (report.report, report.at) }
            guard connection != nil else { return nil }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return nil
    }

    /// The link of the connection with `epoch` (the current one when nil), if it is still current.
    private func link(of epoch: Int?) -> WebSocketLink? {
        guard let current = connection, epoch == nil || current.epoch == epoch else { return nil }
        return current.link
    }

    /// The oldest unacknowledged reliable frame on the connection of `epoch`: its size, when it was
    /// written, and whether the agent had proven the downlink just before (evidence for H1: a link
    /// that carried small frames until a large one went out).
    func oldestUnackedWrite(epoch: Int) -> (bytes: Int, at: Date, provenBefore: Bool)? {
        guard let current = connection, current.epoch == epoch, let (bytes, at) = outbound.oldestUnackedWrite else { return nil }
        let proven = live.lastDownlinkAt.map { at.timeIntervalSince($0) < config.heartbeatDeadline && $0 <= at } ?? false
        return (bytes, at, proven)
    }

    /// Claims the right to run a diagnosis (one at a time per agent); returns the epoch of the
    /// connection it examines, or nil (busy, or no connection: the caller reports agent-offline).
    func beginDiagnosis() -> (claimed: Bool, epoch: Int?) {
        guard health.beginDiagnosis() else { return (false, nil) }
        return (true, connection?.epoch)
    }

    /// Records a finished diagnosis: on the agent, in the history of every undelivered command
    /// sent on this link, in its verdict history, and in the store; then applies the healing response.
    func finishDiagnosis(_ diagnosis: LinkDiagnosis, conclusion: LinkConclusion, evidence: LinkEvidence, epoch: Int?) async -> LinkDiagnosis {
        var result = diagnosis
        let healing = health.finishDiagnosis(conclusion, examinedEpoch: epoch, currentEpoch: connection?.epoch)
        if let operation = healing.operation { perform(operation) }
        result.actions = healing.words
        result.finishedAt = Date()
        health.diagnosed(result)
        logger.notice("link diagnosis: \(result.verdict.rawValue): \(LogSafe.text(result.summary, limit: 400))", metadata: ["actions": "\(LogSafe.describe(result.actions, limit: 400))"])
        for id in outbound.pendingCommandIds {
            // Notes go on commands already written to a connection; a queued one was never sent and stays queued.
            guard let epoch = connection?.epoch, (try? await store.command(id: id))?.state == .sent else { continue }
            if (try? await markSent(id, epoch: epoch, reason: LinkHealthMachine.diagnosisNote(result), now: Date())) == .superseded { break }
        }
        if let json = try? APICoding.encoder().encode(result) {
            try? await store.saveLinkDiagnosis(agentId: agentId, json)
        }
        await recordVerdict(conclusion, source: .serverProbe, evidence: evidence, at: result.finishedAt, notesDelays: false)
        feed.bump()
        return result
    }

    /// Performs a verdict's response (`LinkHealthMachine.heal`) on the current connection.
    private func perform(_ operation: LinkHealthMachine.LinkOperation) {
        guard let link = connection?.link else { return }
        switch operation {
        case .close(let code, let reason):
            link.close(code, reason: reason)
        case .capThenClose(let cap, let code, let reason):
            link.setMaxMessageBytes(cap)
            link.close(code, reason: reason)
        case .abort:
            link.abort()
        }
    }

    /// The agent closed because it could not decode what we sent (H4): that is evidence enough.
    func recordAgentReportedDesync(_ closure: LinkClosure, epoch: Int, now: Date) async {
        var evidence = LinkEvidence(source: .agentReport, now: now.timeIntervalSince1970)
        evidence.agentClose = AgentCloseFact(epoch: epoch, code: Int(closure.code ?? 0), reason: closure.reason)
        let seen = health.agentReport
        evidence.agent = seen?.report
        evidence.agentReportAt = seen?.at.timeIntervalSince1970
        guard let conclusion = LinkVerdict.decide(evidence).conclusion else { return }
        let diagnosis = LinkDiagnosis(
            agentId: agentId, verdict: conclusion.verdict, summary: conclusion.summary,
            trigger: "agent closed epoch \(epoch) with \(closure.code ?? 0)", startedAt: now, finishedAt: now, largestPassedBytes: nil,
            firstBadMessage: conclusion.firstBadMessage, pongRttMs: nil, probes: [], server: nil, agent: seen?.report, agentReportAt: seen?.at,
            pongRtt: nil, actions: ["the agent reconnects with fresh codec state; everything unacknowledged is resent"]
        )
        health.diagnosed(diagnosis)
        logger.notice("link diagnosis: protocol-desync: \(LogSafe.text(closure.reason))")
        if let json = try? APICoding.encoder().encode(diagnosis) { try? await store.saveLinkDiagnosis(agentId: agentId, json) }
        await recordVerdict(conclusion, source: .agentReport, evidence: evidence, at: now)
    }

    /// Whether the agent must reconnect with a clamped MSS before it may have a session, and the
    /// close reason that tells it so (see `LinkHealthMachine.requiredPacketLimits`).
    func requiredPacketLimits(agentMSS: Int?) -> String? {
        health.requiredPacketLimits(agentMSS: agentMSS)
    }
}
