/// Who produced a verdict's evidence.
public enum LinkVerdictSource: String, Codable, Sendable, CaseIterable {
    /// The server's own probes of a live connection.
    case serverProbe = "server-probe"
    /// The agent's own conclusion, in its link report (or its close code).
    case agentReport = "agent-report"
    /// What a failed handshake showed, attributed by a connection id the agent proved later.
    case handshake
}

/// Where on a connection's life the evidence was taken.
public enum LinkStage: String, Codable, Sendable, CaseIterable {
    /// TCP was accepted, TLS (or the upgrade answer) never completed.
    case tls
    /// Upgraded and the challenge written; no hello came back (or the agent never saw the challenge).
    case challenge
    /// The hello was answered; the welcome did not get through.
    case welcome
    /// An authenticated session.
    case session

    /// Before the agent was authenticated.
    public var isHandshake: Bool { self != .session }
}

/// What a failed (unauthenticated) connection attempt showed the server.
public struct HandshakeFact: Codable, Sendable, Equatable {
    /// The id the server gave the connection in its 101 answer; nil at the TLS stage (no answer was sent).
    public var connectionId: String?
    /// The TCP peer's address (shown as is; never used to attribute).
    public var address: String
    public var stage: LinkStage
    /// The downlink mode the attempt asked for.
    public var downlinkMode: DownlinkMode
    public var challengeWritten: Bool
    /// Control frames (pings, pongs) the peer sent and the server answered.
    public var controlFramesIn: Int
    /// Data frames the peer sent (a hello would be one).
    public var dataFramesIn: Int
    /// How the attempt ended.
    public var closeReason: String
    /// Unix seconds.
    public var openedAt: Double
    public var closedAt: Double

    public init(connectionId: String?, address: String, stage: LinkStage, downlinkMode: DownlinkMode, challengeWritten: Bool,
                controlFramesIn: Int, dataFramesIn: Int, closeReason: String, openedAt: Double, closedAt: Double) {
        self.connectionId = connectionId
        self.address = address
        self.stage = stage
        self.downlinkMode = downlinkMode
        self.challengeWritten = challengeWritten
        self.controlFramesIn = controlFramesIn
        self.dataFramesIn = dataFramesIn
        self.closeReason = closeReason
        self.openedAt = openedAt
        self.closedAt = closedAt
    }
}

/// A connection the server still held open when a newer authenticated one of the same agent
/// replaced it (H6: a route that would have gone stale).
public struct SupersededFact: Codable, Sendable, Equatable {
    public var oldEpoch: Int
    public var newEpoch: Int
    /// Seconds since the old connection last carried a data frame from the agent (nil: never).
    public var secondsSinceData: Double?
    /// Unacknowledged reliable frames moved to the new route.
    public var unacknowledgedMoved: Int

    public init(oldEpoch: Int, newEpoch: Int, secondsSinceData: Double?, unacknowledgedMoved: Int) {
        self.oldEpoch = oldEpoch
        self.newEpoch = newEpoch
        self.secondsSinceData = secondsSinceData
        self.unacknowledgedMoved = unacknowledgedMoved
    }
}

/// The agent closed a connection because it could not decode a server frame (1002, 1007, 1009).
public struct AgentCloseFact: Codable, Sendable, Equatable {
    public var epoch: Int
    public var code: Int
    public var reason: String

    public init(epoch: Int, code: Int, reason: String) {
        self.epoch = epoch
        self.code = code
        self.reason = reason
    }
}

/// The oldest unacknowledged reliable frame on the examined connection.
public struct UnackedWriteFact: Codable, Sendable, Equatable {
    public var bytes: Int
    /// Whether the agent had proven the downlink just before it was written.
    public var provenBefore: Bool

    public init(bytes: Int, provenBefore: Bool) {
        self.bytes = bytes
        self.provenBefore = provenBefore
    }
}

/// Everything known about one agent's link at one moment: the one input of `LinkVerdict.decide`.
/// A driver fills in what `decide` asks for (`LinkDecision.gather`) and asks again.
public struct LinkEvidence: Codable, Sendable, Equatable {
    public var source: LinkVerdictSource
    /// Unix seconds now (decide reads no clock).
    public var now: Double
    /// Unix seconds the gathering started.
    public var startedAt: Double
    /// Whether the agent has a live connection to this server (server probes only).
    public var connected: Bool
    public var downlinkMode: DownlinkMode
    /// The server's side at the start, and at the writability recheck.
    public var server: LinkSideReport?
    public var serverRecheck: LinkSideReport?
    /// The server's side at the latest look (TCP info, data from the agent).
    public var serverLatest: LinkSideReport?
    /// The agent's latest report, and when it arrived (Unix seconds).
    public var agent: LinkReport?
    public var agentReportAt: Double?
    /// Whether the driver already waited for a fresh agent report.
    public var agentReportAwaited: Bool
    /// Whether the control ping was sent, and its round trip (nil: no pong).
    public var pingSent: Bool
    public var pongRttMs: Double?
    public var probes: [ProbeResult]
    /// The plain echo sizes this driver probes, smallest first; nil: `LinkProbePlan.sizes`. (`gururmm
    /// doctor` probes smaller ones: its echoes must fit the pre-authentication limit.)
    public var probeSizes: [Int]?
    public var oldestUnacked: UnackedWriteFact?
    public var agentClose: AgentCloseFact?
    public var handshake: HandshakeFact?
    public var superseded: SupersededFact?
    /// The agent finding being judged (agent reports; handshakes once attributed).
    public var finding: LinkFinding?

    public init(source: LinkVerdictSource, now: Double, startedAt: Double? = nil, connected: Bool = true, downlinkMode: DownlinkMode = .text) {
        self.source = source
        self.now = now
        self.startedAt = startedAt ?? now
        self.connected = connected
        self.downlinkMode = downlinkMode
        self.agentReportAwaited = false
        self.pingSent = false
        self.probes = []
    }
}
