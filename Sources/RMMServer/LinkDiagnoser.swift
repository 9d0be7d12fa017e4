import Foundation
import RMMProtocol

/// Diagnoses one agent's link with evidence: what both ends counted, a control ping, and data-frame
/// echoes of growing size (text, then binary), then a command-shaped echo. Each failure mode of
/// DESIGN.md maps to one verdict; the session applies the matching response.
struct LinkDiagnoser {
    let session: AgentSession
    /// Seconds to wait for one probe's reply.
    var probeTimeout: Double = 3

    func run(trigger: String) async -> LinkDiagnosis {
        let started = Date()
        var diagnosis = LinkDiagnosis(
            agentId: session.agentId, verdict: .healthy, summary: "", trigger: trigger, startedAt: started, finishedAt: started,
            largestPassedBytes: nil, firstBadMessage: nil, pongRttMs: nil, probes: [], server: nil, agent: nil, agentReportAt: nil,
            pongRtt: nil, actions: []
        )
        let (claimed, pinned) = await session.beginDiagnosis()
        guard claimed else {
            // One runs already: wait for its result rather than invent one.
            let deadline = Date().addingTimeInterval(90)
            while await session.diagnosing, Date() < deadline { try? await Task.sleep(for: .milliseconds(200)) }
            if let last = await session.lastDiagnosis { return last }
            diagnosis.verdict = .agentOffline
            diagnosis.summary = "another diagnosis of this agent did not finish"
            return diagnosis
        }
        guard let epoch = pinned, let before = await session.linkEvidence(epoch: epoch) else {
            diagnosis.verdict = .agentOffline
            diagnosis.summary = "the agent has no connection to this server"
            return await session.finishDiagnosis(diagnosis, epoch: nil)
        }
        diagnosis.server = before.server
        diagnosis.agent = before.agent
        diagnosis.agentReportAt = before.agentAt
        diagnosis.pongRtt = before.server.counters.pongRttSummary
        await decide(&diagnosis, epoch: epoch, before: before, started: started)
        if let after = await session.linkEvidence(epoch: epoch) {
            diagnosis.server = after.server
            diagnosis.agent = after.agent ?? diagnosis.agent
            diagnosis.agentReportAt = after.agentAt ?? diagnosis.agentReportAt
        }
        return await session.finishDiagnosis(diagnosis, epoch: epoch)
    }

    private func decide(_ d: inout LinkDiagnosis, epoch: Int, before: (server: LinkSideReport, agent: LinkReport?, agentAt: Date?), started: Date) async {
        let mode = before.server.downlinkMode
        // H5: we cannot even write. Look twice: a busy link is briefly unwritable too.
        if !before.server.counters.isWritable, (before.server.queuedBytes ?? 0) > 0 {
            try? await Task.sleep(for: .seconds(1))
            if let again = await session.linkEvidence(epoch: epoch), !again.server.counters.isWritable,
               (again.server.queuedBytes ?? 0) >= (before.server.queuedBytes ?? 0) {
                d.verdict = .writeBlocked
                d.summary = "the connection has stayed unwritable with \(again.server.queuedBytes ?? 0) bytes queued: the path or proxy stopped taking our bytes"
                return
            }
        }
        // H4: the agent reported frames it could not decode.
        if let agent = before.agent, agent.side.counters.decodeErrors > 0 {
            d.verdict = .protocolDesync
            d.firstBadMessage = agent.side.counters.firstUnknownType ?? "undecodable frame"
            d.summary = "the agent failed to decode \(agent.side.counters.decodeErrors) frame(s) on this connection"
            return
        }
        d.pongRttMs = await session.pingAndWait(epoch: epoch, timeout: probeTimeout)
        let pongPassed = d.pongRttMs != nil

        // Data echoes, smallest first; stop at the first loss (on a real blackhole TCP stalls behind it).
        var largest: Int?
        for size in ProbeFrames.sizes {
            let rtt = await session.probe(epoch: epoch, size: size, encoding: mode, shape: .plain, timeout: probeTimeout)
            d.probes.append(ProbeResult(size: size, encoding: mode.rawValue, shape: .plain, passed: rtt != nil, rttMs: rtt))
            if rtt == nil { break }
            largest = size
        }
        d.largestPassedBytes = largest
        if let largest, largest == ProbeFrames.sizes.last {
            let rtt = await session.probe(epoch: epoch, size: 4096, encoding: mode, shape: .command, timeout: probeTimeout)
            d.probes.append(ProbeResult(size: 4096, encoding: mode.rawValue, shape: .command, passed: rtt != nil, rttMs: rtt))
            if rtt == nil {
                if mode == .text {
                    let binary = await session.probe(epoch: epoch, size: 4096, encoding: .binary, shape: .command, timeout: probeTimeout)
                    d.probes.append(ProbeResult(size: 4096, encoding: "binary", shape: .command, passed: binary != nil, rttMs: binary))
                }
                d.verdict = .pathFiltersData
                d.summary = "plain data frames of every size pass but a frame shaped like a command is lost: something on the path inspects content"
            } else {
                d.verdict = .healthy
                d.summary = "control and data frames of every size pass in both directions"
            }
            return
        }
        if let largest {
            d.verdict = .sizeBlackhole
            d.summary = "data frames up to \(largest) bytes pass, larger ones are lost (MTU blackhole or a size limit on the path)"
            return
        }
        // Not even 64 bytes of data got through.
        if mode == .text {
            let rtt = await session.probe(epoch: epoch, size: 64, encoding: .binary, shape: .plain, timeout: probeTimeout)
            d.probes.append(ProbeResult(size: 64, encoding: "binary", shape: .plain, passed: rtt != nil, rttMs: rtt))
            if rtt != nil {
                d.verdict = .pathFiltersData
                d.summary = "text data frames are lost while binary ones pass: the path filters WebSocket text"
                return
            }
        }
        guard pongPassed else {
            // Nothing comes back. If the agent's small frames still arrive while our segments are
            // retransmitted and never acknowledged, big packets die on the way: an MTU blackhole
            // (our stream is stuck behind the lost segment, so even the ping cannot pass).
            let now = await session.linkEvidence(epoch: epoch)
            let tcp = now?.server.tcp
            // The link carried small frames (the downlink was proven) until a frame larger than a
            // safe packet went out; since then nothing, not even a pong, comes back. (TCP counters
            // go into the evidence; congestion control makes them too uneven to decide on.)
            if let stall = await session.oldestUnackedWrite(epoch: epoch), stall.provenBefore, stall.bytes > ProbeFrames.clampedMSS {
                d.verdict = .sizeBlackhole
                d.summary = "the link carried small frames until a \(stall.bytes)-byte frame was written; since then nothing, not even a pong, comes back (tcp retransmits \(tcp?.totalRetransmits ?? 0), unacked segments \(tcp?.unackedSegments ?? 0)): large packets are lost on the path (MTU blackhole)"
                return
            }
            d.verdict = .halfOpen
            let stall = await session.oldestUnackedWrite(epoch: epoch)
            d.summary = "neither pongs nor data echoes come back: the connection is dead though still open"
                + " (tcp retransmits \(tcp?.totalRetransmits ?? -1), unacked segments \(tcp?.unackedSegments ?? -1)"
                + (stall.map { "; oldest unacknowledged frame \($0.bytes) bytes, downlink proven before it: \($0.provenBefore)" } ?? "") + ")"
            return
        }
        // Pongs pass, data does not. The agent's own report (sent over the uplink by a reporter that
        // does not depend on its consumer) tells a stuck agent from a filtering path.
        // A report from before we started counts if it already says the consumer is stuck.
        let earlier = before.agent.flatMap { report in before.agentAt.map { (report, $0) } }
        let stalledEarlier = earlier.flatMap { $0.0.consumerStalledSeconds > 0 && Date().timeIntervalSince($0.1) < 30 ? $0 : nil }
        var report = stalledEarlier
        if report == nil { report = await session.agentReport(since: started, timeout: 20) }
        if let (agent, at) = report {
            d.agent = agent
            d.agentReportAt = at
            let backlog = agent.side.counters.messagesReceived - agent.side.counters.messagesHandled
            if agent.consumerStalledSeconds > 0 || backlog > 0 {
                d.verdict = .agentStalled
                d.summary = "pongs arrive and the agent receives frames (\(agent.side.counters.messagesReceived) received, \(agent.side.counters.messagesHandled) handled) but its consumer has not handled any for \(Int(agent.consumerStalledSeconds)) s"
                return
            }
            d.verdict = .pathFiltersData
            d.summary = "pongs arrive and the uplink works, but the agent's reader saw no data frames since the probes: \(mode.rawValue) data frames are dropped on the way down"
            return
        }
        d.verdict = .pathFiltersData
        // No report in time (routine ones are minutes apart; the agent's own quiet-downlink report
        // comes only after two heartbeat intervals): our counters still tell whether its data
        // frames reach us.
        let lastAgentData = await session.linkEvidence(epoch: epoch)?.server.counters.lastDataIn
        if let lastAgentData, lastAgentData >= started.timeIntervalSince1970 {
            let age = max(0, Date().timeIntervalSince1970 - lastAgentData)
            d.summary = "pongs arrive and the agent's data frames still reach us (last \(Int(age)) s ago), but none of ours reaches the agent: \(mode.rawValue) data frames are dropped on the way down"
        } else {
            d.summary = "pongs arrive but no data frame gets through in either direction"
        }
    }
}
