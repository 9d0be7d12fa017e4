extension LinkVerdict {
    /// The one place a link verdict is decided: from evidence alone (no clock, no I/O). Either a
    /// verdict, or the next piece of evidence to gather; a driver gathers it and asks again.
    public static func decide(_ evidence: LinkEvidence) -> LinkDecision {
        if let fact = evidence.superseded { return .verdict(superseded(fact)) }
        if let close = evidence.agentClose {
            return .verdict(LinkConclusion(
                verdict: .protocolDesync, stage: .session,
                summary: "the agent closed the connection because it could not decode a frame from the server: \(LogSafe.text(close.reason, limit: 200))",
                firstBadMessage: close.reason
            ))
        }
        if let fact = evidence.handshake { return .verdict(handshake(fact, finding: evidence.finding)) }
        if evidence.source == .agentReport, let finding = evidence.finding { return .verdict(agentFinding(finding)) }
        return probed(evidence)
    }

    private static func superseded(_ fact: SupersededFact) -> LinkConclusion {
        let quiet = fact.secondsSinceData.map { "it last carried data from the agent \(Int($0)) s before" } ?? "it never carried data from the agent"
        return LinkConclusion(
            verdict: .superseded, stage: .session,
            summary: "a new authenticated connection (epoch \(fact.newEpoch)) replaced epoch \(fact.oldEpoch), which the server still held open; \(quiet); \(fact.unacknowledgedMoved) unacknowledged frame(s) moved to the new route"
        )
    }

    /// A failed handshake: on its own it says only where it stopped; with the agent's finding about
    /// the same attempt (attributed through its connection id) it says why.
    private static func handshake(_ fact: HandshakeFact, finding: LinkFinding?) -> LinkConclusion {
        let seen = "the server wrote the challenge and answered \(fact.controlFramesIn) control frame(s), but no hello came (\(LogSafe.text(fact.closeReason, limit: 200)))"
        switch finding?.kind {
        case .challengeLost?, .downlinkQuiet?:
            return LinkConclusion(
                verdict: .pathFiltersData, stage: .challenge,
                summary: "before authentication on the \(fact.downlinkMode.rawValue) downlink, \(seen); the agent got the pongs but never the challenge: data frames are dropped on the way down"
            )
        case .welcomeLost?:
            return LinkConclusion(
                verdict: .sizeBlackhole, stage: .welcome,
                summary: "before authentication, the small challenge reached the agent but the larger welcome never did: large packets are lost on the path (MTU blackhole)"
            )
        case .answerLost?:
            return LinkConclusion(
                verdict: .sizeBlackhole, stage: .tls,
                summary: "TCP was accepted but the agent never got the TLS or upgrade answer: large packets are lost on the path (MTU blackhole)"
            )
        default:
            break
        }
        if fact.stage == .tls {
            return LinkConclusion(verdict: .handshakeIncomplete, stage: .tls,
                                  summary: "TCP accepted but TLS or the upgrade never completed (\(LogSafe.text(fact.closeReason, limit: 200)))")
        }
        return LinkConclusion(verdict: .handshakeIncomplete, stage: fact.stage, summary: "upgraded (\(fact.downlinkMode.rawValue) downlink): \(seen)")
    }

    /// What the agent concluded on its own, judged as a verdict.
    private static func agentFinding(_ finding: LinkFinding) -> LinkConclusion {
        let mode = finding.downlinkMode.rawValue
        // The agent's words reach operators' terminals: control characters escaped.
        let detail = LogSafe.text(finding.detail, limit: LinkFinding.maxDetailBytes)
        switch finding.kind {
        case .challengeLost:
            return LinkConclusion(verdict: .pathFiltersData, stage: .challenge,
                                  summary: "the agent's pings were answered but the challenge never arrived on the \(mode) downlink: data frames are dropped on the way down")
        case .downlinkQuiet:
            return LinkConclusion(verdict: .pathFiltersData, stage: .session,
                                  summary: "the agent saw data frames stop on the \(mode) downlink while control frames still arrived: data frames are dropped on the way down")
        case .welcomeLost:
            return LinkConclusion(verdict: .sizeBlackhole, stage: .welcome,
                                  summary: "the small challenge arrived but the larger welcome never did: large packets are lost on the path (MTU blackhole)")
        case .answerLost:
            return LinkConclusion(verdict: .sizeBlackhole, stage: .tls,
                                  summary: "TCP connected but no TLS or upgrade answer came back: the first large packets are lost on the path (MTU blackhole)")
        case .consumerStalled, .watchdog:
            return LinkConclusion(verdict: .agentStalled, stage: .session,
                                  summary: "the agent's consumer held waiting messages without handling them (\(detail))")
        case .workRefused:
            return LinkConclusion(verdict: .pathAltersData, stage: .session,
                                  summary: "the agent refused work from the server that did not verify (\(detail)): something on the path alters, replays or forges it")
        }
    }
}
