/// What `LinkVerdict.decide` answers: a verdict, or the next piece of evidence it needs.
public enum LinkDecision: Sendable, Equatable {
    case verdict(LinkConclusion)
    case gather(LinkGather)

    /// The conclusion, when there is one.
    public var conclusion: LinkConclusion? {
        if case .verdict(let conclusion) = self { return conclusion }
        return nil
    }
}

/// Evidence `decide` asks the driver to gather next.
public enum LinkGather: Sendable, Equatable {
    /// Look at the server's writability again after this many seconds (`serverRecheck`).
    case recheckWritability(afterSeconds: Double)
    /// Send a control ping and wait for its pong (`pingSent`, `pongRttMs`).
    case ping(timeoutSeconds: Double)
    /// Send one data echo and wait for the agent's reply (append to `probes`).
    case probe(size: Int, encoding: DownlinkMode, shape: Probe.Shape, timeoutSeconds: Double)
    /// Wait for an agent report that arrives after the gathering started (`agent`, `agentReportAwaited`).
    case agentReport(timeoutSeconds: Double)
}

/// The healing response a verdict calls for; the session carries it out on the examined connection.
public enum LinkAction: String, Codable, Sendable, Equatable {
    /// Nothing to do (healthy, offline, or the agent already acted on its own finding).
    case none
    /// Reconnect with the binary downlink (close 4010 `downlink=binary`).
    case switchToBinary
    /// Reconnect with the long-poll downlink (close 4010 `downlink=poll`).
    case switchToPoll
    /// Already on the long-poll downlink: no further fallback.
    case noFallbackLeft
    /// Cap messages and have the agent reconnect with a clamped MSS (close 4011).
    case shrinkPackets
    /// Close so the agent rebuilds its session (4012).
    case rebuildSession
    /// Close so both ends start with fresh codec state (4013).
    case resetCodec
    /// Close the blocked connection (4014).
    case closeBlocked
    /// Drop the TCP connection without a close frame.
    case dropConnection
}

/// A verdict with the sentence that explains it and what to do about it.
public struct LinkConclusion: Sendable, Equatable {
    public var verdict: LinkVerdict
    public var stage: LinkStage
    /// One sentence saying what is wrong and why the evidence says so.
    public var summary: String
    public var action: LinkAction
    /// Largest data frame that passed, for `size-blackhole`.
    public var largestPassedBytes: Int?
    /// The agent's reason, for `protocol-desync`.
    public var firstBadMessage: String?

    public init(verdict: LinkVerdict, stage: LinkStage, summary: String, action: LinkAction = .none,
                largestPassedBytes: Int? = nil, firstBadMessage: String? = nil) {
        self.verdict = verdict
        self.stage = stage
        self.summary = summary
        self.action = action
        self.largestPassedBytes = largestPassedBytes
        self.firstBadMessage = firstBadMessage
    }
}
