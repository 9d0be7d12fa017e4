extension LinkVerdict {
    /// A server diagnosis of a live connection (H1–H5, H7 in docs/diagnosis.md): writability, the agent's
    /// decode errors, a control ping, data echoes of growing size, a command-shaped echo, a binary
    /// echo, and the agent's report.
    static func probed(_ e: LinkEvidence) -> LinkDecision {
        guard e.connected, let server = e.server else {
            return .verdict(LinkConclusion(verdict: .agentOffline, stage: .session, summary: "the agent has no connection to this server"))
        }
        let mode = e.downlinkMode
        // H5: we cannot even write. Look twice: a busy link is briefly unwritable too.
        if !server.counters.isWritable, (server.queuedBytes ?? 0) > 0 {
            guard let again = e.serverRecheck else { return .gather(.recheckWritability(afterSeconds: LinkProbePlan.writabilityRecheck)) }
            if !again.counters.isWritable, (again.queuedBytes ?? 0) >= (server.queuedBytes ?? 0) {
                return .verdict(LinkConclusion(
                    verdict: .writeBlocked, stage: .session,
                    summary: "the connection has stayed unwritable with \(again.queuedBytes ?? 0) bytes queued: the path or proxy stopped taking our bytes",
                    action: .closeBlocked
                ))
            }
        }
        // H4: the agent reported frames it could not decode.
        if let agent = e.agent, agent.side.counters.decodeErrors > 0 {
            return .verdict(LinkConclusion(
                verdict: .protocolDesync, stage: .session,
                summary: "the agent failed to decode \(agent.side.counters.decodeErrors) frame(s) on this connection",
                action: .resetCodec, firstBadMessage: agent.side.counters.firstUnknownType ?? "undecodable frame"
            ))
        }
        guard e.pingSent else { return .gather(.ping(timeoutSeconds: LinkProbePlan.probeTimeout)) }
        let timeout = LinkProbePlan.probeTimeout

        // Data echoes in the current mode, smallest first; stop at the first loss (on a real
        // blackhole TCP stalls behind it).
        let plain = e.probes.filter { $0.encoding == mode.rawValue && $0.shape == .plain }
        var largest: Int?
        let sizes = e.probeSizes ?? LinkProbePlan.sizes
        for (index, size) in sizes.enumerated() {
            guard index < plain.count else { return .gather(.probe(size: size, encoding: mode, shape: .plain, timeoutSeconds: timeout)) }
            if !plain[index].passed { break }
            largest = size
        }
        let commandBytes = LinkProbePlan.commandShapeBytes
        if let largest, largest == sizes.last {
            guard let command = e.probes.first(where: { $0.encoding == mode.rawValue && $0.shape == .command }) else {
                return .gather(.probe(size: commandBytes, encoding: mode, shape: .command, timeoutSeconds: timeout))
            }
            if command.passed {
                return .verdict(LinkConclusion(verdict: .healthy, stage: .session, summary: "control and data frames of every size pass in both directions",
                                               largestPassedBytes: largest))
            }
            var binaryPassed = false
            if mode == .text {
                guard let binary = e.probes.first(where: { $0.encoding == DownlinkMode.binary.rawValue && $0.shape == .command }) else {
                    return .gather(.probe(size: commandBytes, encoding: .binary, shape: .command, timeoutSeconds: timeout))
                }
                binaryPassed = binary.passed
            }
            return .verdict(LinkConclusion(
                verdict: .pathFiltersData, stage: .session,
                summary: "plain data frames of every size pass but a frame shaped like a command is lost: something on the path inspects content",
                action: fallback(from: mode, binaryPassed: binaryPassed), largestPassedBytes: largest
            ))
        }
        if let largest {
            return .verdict(LinkConclusion(
                verdict: .sizeBlackhole, stage: .session,
                summary: "data frames up to \(largest) bytes pass, larger ones are lost (MTU blackhole or a size limit on the path)",
                action: .shrinkPackets, largestPassedBytes: largest
            ))
        }
        // Not even 64 bytes of data got through: does binary pass where text does not?
        if mode == .text {
            let smallest = sizes.first ?? LinkProbePlan.sizes[0]
            guard let binary = e.probes.first(where: { $0.encoding == DownlinkMode.binary.rawValue && $0.shape == .plain }) else {
                return .gather(.probe(size: smallest, encoding: .binary, shape: .plain, timeoutSeconds: timeout))
            }
            if binary.passed {
                return .verdict(LinkConclusion(verdict: .pathFiltersData, stage: .session,
                                               summary: "text data frames are lost while binary ones pass: the path filters WebSocket text", action: .switchToBinary))
            }
        }
        let latest = e.serverLatest ?? server
        guard e.pongRttMs != nil else { return .verdict(noPong(e, tcp: latest.tcp)) }
        return pongsButNoData(e, latest: latest)
    }

    /// Nothing comes back, not even a pong. If the link carried small frames until one larger than
    /// a safe packet went out, big packets die on the way (our stream is stuck behind the lost
    /// segment); otherwise the connection is dead though open. (TCP counters go into the summary;
    /// congestion control makes them too uneven to decide on.)
    private static func noPong(_ e: LinkEvidence, tcp: TCPInfoSnapshot?) -> LinkConclusion {
        if let stall = e.oldestUnacked, stall.provenBefore, stall.bytes > PacketLimits.clampedMSS {
            return LinkConclusion(
                verdict: .sizeBlackhole, stage: .session,
                summary: "the link carried small frames until a \(stall.bytes)-byte frame was written; since then nothing, not even a pong, comes back (tcp retransmits \(tcp?.totalRetransmits ?? 0), unacked segments \(tcp?.unackedSegments ?? 0)): large packets are lost on the path (MTU blackhole)",
                action: .shrinkPackets
            )
        }
        let stall = e.oldestUnacked.map { "; oldest unacknowledged frame \($0.bytes) bytes, downlink proven before it: \($0.provenBefore)" } ?? ""
        return LinkConclusion(
            verdict: .halfOpen, stage: .session,
            summary: "neither pongs nor data echoes come back: the connection is dead though still open (tcp retransmits \(tcp?.totalRetransmits ?? -1), unacked segments \(tcp?.unackedSegments ?? -1)\(stall))",
            action: .dropConnection
        )
    }

    /// Pongs pass, data does not. The agent's own report (sent by a reporter that does not depend
    /// on its consumer) tells a stuck agent from a filtering path.
    private static func pongsButNoData(_ e: LinkEvidence, latest: LinkSideReport) -> LinkDecision {
        let mode = e.downlinkMode
        let filtered = fallback(from: mode, binaryPassed: false)
        if let agent = e.agent, let at = e.agentReportAt {
            let fresh = at > e.startedAt
            let stalledRecently = agent.consumerStalledSeconds > 0 && e.now - at < LinkProbePlan.stalledReportFreshness
            let backlog = agent.side.counters.messagesReceived - agent.side.counters.messagesHandled
            if stalledRecently || (fresh && backlog > 0) {
                return .verdict(LinkConclusion(
                    verdict: .agentStalled, stage: .session,
                    summary: "pongs arrive and the agent receives frames (\(agent.side.counters.messagesReceived) received, \(agent.side.counters.messagesHandled) handled) but its consumer has not handled any for \(Int(agent.consumerStalledSeconds)) s",
                    action: .rebuildSession
                ))
            }
            if fresh {
                return .verdict(LinkConclusion(
                    verdict: .pathFiltersData, stage: .session,
                    summary: "pongs arrive and the uplink works, but the agent's reader saw no data frames since the probes: \(mode.rawValue) data frames are dropped on the way down",
                    action: filtered
                ))
            }
        }
        guard e.agentReportAwaited else { return .gather(.agentReport(timeoutSeconds: LinkProbePlan.agentReportTimeout)) }
        // No report in time (routine ones are minutes apart): our counters still tell whether the
        // agent's data frames reach us.
        if let lastAgentData = latest.counters.lastDataIn, lastAgentData >= e.startedAt {
            let age = max(0, e.now - lastAgentData)
            return .verdict(LinkConclusion(
                verdict: .pathFiltersData, stage: .session,
                summary: "pongs arrive and the agent's data frames still reach us (last \(Int(age)) s ago), but none of ours reaches the agent: \(mode.rawValue) data frames are dropped on the way down",
                action: filtered
            ))
        }
        return .verdict(LinkConclusion(verdict: .pathFiltersData, stage: .session,
                                       summary: "pongs arrive but no data frame gets through in either direction", action: filtered))
    }

    /// The next downlink after `mode` lost data frames: binary if a binary echo passed.
    private static func fallback(from mode: DownlinkMode, binaryPassed: Bool) -> LinkAction {
        switch mode {
        case .text: return binaryPassed ? .switchToBinary : .switchToPoll
        case .binary: return .switchToPoll
        case .poll: return .noFallbackLeft
        }
    }
}
