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
        return (side, agentReport?.report, agentReport?.at)
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
        let id = nextProbeId
        nextProbeId += 1
        guard let frame = ProbeFrames.encode(id: id, size: size, shape: shape) else { return nil }
        probeSentAt[id] = Date()
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
        probeSentAt[id] = nil
        probeWaiters.removeValue(forKey: id)?.resume(returning: nil)
    }

    /// Waits for an agent link report received after `since`.
    func agentReport(since: Date, timeout: Double) async -> (LinkReport, Date)? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let report = agentReport, report.at > since { return (report.report, report.at) }
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
        guard let current = connection, current.epoch == epoch,
              let oldest = outbox.unacknowledged.first(where: { current.writtenAt[$0.seq] != nil }),
              let at = current.writtenAt[oldest.seq] else { return nil }
        let proven = live.lastDownlinkAt.map { at.timeIntervalSince($0) < config.heartbeatDeadline && $0 <= at } ?? false
        return (current.writtenBytes[oldest.seq] ?? 0, at, proven)
    }

    /// Claims the right to run a diagnosis (one at a time per agent); returns the epoch of the
    /// connection it examines, or nil (busy, or no connection: the caller reports agent-offline).
    func beginDiagnosis() -> (claimed: Bool, epoch: Int?) {
        if diagnosing { return (false, nil) }
        diagnosing = true
        return (true, connection?.epoch)
    }

    /// Records a finished diagnosis: on the agent, in the history of every undelivered command
    /// sent on this link, in its verdict history, and in the store; then applies the healing response.
    func finishDiagnosis(_ diagnosis: LinkDiagnosis, conclusion: LinkConclusion, evidence: LinkEvidence, epoch: Int?) async -> LinkDiagnosis {
        var result = diagnosis
        // Heal only the connection that was examined: a newer one must not pay for the old one's faults.
        if conclusion.action == .shrinkPackets { clampForSizeBlackhole(largestPassed: conclusion.largestPassedBytes) }
        result.actions = epoch != nil && connection?.epoch == epoch ? heal(conclusion.action) : []
        if epoch != nil && connection?.epoch != epoch { result.actions.append("the agent had already reconnected; the new connection was left alone") }
        result.finishedAt = Date()
        lastDiagnosis = result
        diagnosing = false
        logger.notice("link diagnosis: \(result.verdict.rawValue): \(LogSafe.text(result.summary, limit: 400))", metadata: ["actions": "\(LogSafe.describe(result.actions, limit: 400))"])
        for item in outbox.unacknowledged {
            // Notes go on commands already written to a connection; a queued one was never sent and stays queued.
            guard let id = item.item.commandId, (try? await store.command(id: id))?.state == .sent else { continue }
            let note = "link diagnosis (\(result.trigger)): \(result.verdict.rawValue): \(result.summary)" + (result.actions.isEmpty ? "" : "; action: " + result.actions.joined(separator: "; "))
            _ = try? await store.transition(commandId: id, to: .sent, reason: note, now: Date())
        }
        if let json = try? APICoding.encoder().encode(result) {
            try? await store.saveLinkDiagnosis(agentId: agentId, json)
        }
        await recordVerdict(conclusion, source: .serverProbe, evidence: evidence, at: result.finishedAt, notesDelays: false)
        feed.bump()
        return result
    }

    /// The response DESIGN.md assigns to each verdict, on the current connection. Returns what was done, in words.
    private func heal(_ action: LinkAction) -> [String] {
        guard let link = connection?.link else { return [] }
        switch action {
        case .none:
            return []
        case .switchToBinary, .switchToPoll:
            let next: DownlinkMode = action == .switchToBinary ? .binary : .poll
            link.close(.switchDownlink, reason: "downlink=\(next.rawValue)")
            return ["asked the agent to reconnect with the \(next.rawValue) downlink"]
        case .noFallbackLeft:
            return ["already on the long-poll downlink; no further fallback"]
        case .shrinkPackets:
            let cap = messageCapOverride ?? 1024
            link.setMaxMessageBytes(cap)
            link.close(.shrinkPackets, reason: "mss=\(ProbeFrames.clampedMSS) cap=\(cap)")
            return ["capped messages at \(cap) bytes", "asked the agent to reconnect with TCP MSS \(ProbeFrames.clampedMSS) (and will ask again at its next connect if it does not)"]
        case .rebuildSession:
            link.close(.agentStalled, reason: "agent consumer stalled; rebuild the session")
            return ["closed the session so the agent rebuilds it"]
        case .resetCodec:
            link.close(.protocolDesync, reason: "decode errors; reconnect with fresh codec state")
            return ["closed the session so both sides start with fresh codec state"]
        case .closeBlocked:
            link.close(.writeBlocked, reason: "server cannot write to this connection")
            return ["closed the blocked connection; the agent reconnects"]
        case .dropConnection:
            link.abort()
            return ["dropped the half-open connection"]
        }
    }

    /// The agent closed because it could not decode what we sent (H4): that is evidence enough.
    func recordAgentReportedDesync(_ closure: LinkClosure, epoch: Int, now: Date) async {
        var evidence = LinkEvidence(source: .agentReport, now: now.timeIntervalSince1970)
        evidence.agentClose = AgentCloseFact(epoch: epoch, code: Int(closure.code ?? 0), reason: closure.reason)
        evidence.agent = agentReport?.report
        evidence.agentReportAt = agentReport?.at.timeIntervalSince1970
        guard let conclusion = LinkVerdict.decide(evidence).conclusion else { return }
        let diagnosis = LinkDiagnosis(
            agentId: agentId, verdict: conclusion.verdict, summary: conclusion.summary,
            trigger: "agent closed epoch \(epoch) with \(closure.code ?? 0)", startedAt: now, finishedAt: now, largestPassedBytes: nil,
            firstBadMessage: conclusion.firstBadMessage, pongRttMs: nil, probes: [], server: nil, agent: agentReport?.report, agentReportAt: agentReport?.at,
            pongRtt: nil, actions: ["the agent reconnects with fresh codec state; everything unacknowledged is resent"]
        )
        lastDiagnosis = diagnosis
        logger.notice("link diagnosis: protocol-desync: \(LogSafe.text(closure.reason))")
        if let json = try? APICoding.encoder().encode(diagnosis) { try? await store.saveLinkDiagnosis(agentId: agentId, json) }
        await recordVerdict(conclusion, source: .agentReport, evidence: evidence, at: now)
    }

    /// After a size blackhole, every later connection of this agent must use small packets.
    private func clampForSizeBlackhole(largestPassed: Int?) {
        let largest = largestPassed ?? 2048
        messageCapOverride = max(1024, min(largest, WireLimits.maxFrameBytes / 2) / 2)
        needsClampedMSS = true
    }

    /// Whether the agent must reconnect with a clamped MSS before it may have a session, and the
    /// close reason that tells it so (sent before any large frame, so it fits through the blackhole).
    func requiredPacketLimits(agentMSS: Int?) -> String? {
        guard needsClampedMSS, agentMSS == nil || (agentMSS ?? Int.max) > ProbeFrames.clampedMSS else { return nil }
        return "mss=\(ProbeFrames.clampedMSS) cap=\(messageCapOverride ?? 1024)"
    }

    /// Whether an undelivered command has waited past the ack deadline on this link, and which.
    func overdueCommand(now: Date) -> (id: String, age: Double)? {
        guard let current = connection else { return nil }
        for item in outbox.unacknowledged {
            guard let id = item.item.commandId, let written = current.writtenAt[item.seq] else { continue }
            let age = now.timeIntervalSince(written)
            if age >= config.ackDeadline { return (id, age) }
        }
        return nil
    }
}
