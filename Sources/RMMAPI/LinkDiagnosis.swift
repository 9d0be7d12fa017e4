import Foundation
import RMMProtocol

/// The result of diagnosing one agent's link: the verdict, the evidence behind it, and what was done.
/// Served at `GET /api/v1/agents/{id}/link` and printed by `gururmm diagnose`.
public struct LinkDiagnosis: Codable, Sendable, Equatable {
    public var agentId: String
    public var verdict: LinkVerdict
    /// One sentence saying what is wrong and why the evidence says so.
    public var summary: String
    /// What started it: "operator" or "auto: command c_… unacknowledged for 12 s".
    public var trigger: String
    public var startedAt: Date
    public var finishedAt: Date
    /// Largest data frame that passed, for `size-blackhole`.
    public var largestPassedBytes: Int?
    /// The first message type the agent could not decode, for `protocol-desync`.
    public var firstBadMessage: String?
    /// Control ping: round trip in ms, nil if no pong came back.
    public var pongRttMs: Double?
    public var probes: [ProbeResult]
    /// The server's side of the link at the time.
    public var server: LinkSideReport?
    /// The agent's latest report over the uplink.
    public var agent: LinkReport?
    /// When the agent's report was received.
    public var agentReportAt: Date?
    /// Recent pong round trips on the server side.
    public var pongRtt: RttSummary?
    /// What the server did about it.
    public var actions: [String]

    /// Every field, as the server fills it in.
    public init(
        agentId: String, verdict: LinkVerdict, summary: String, trigger: String, startedAt: Date, finishedAt: Date, largestPassedBytes: Int?,
        firstBadMessage: String?, pongRttMs: Double?, probes: [ProbeResult], server: LinkSideReport?, agent: LinkReport?, agentReportAt: Date?,
        pongRtt: RttSummary?, actions: [String]
    ) {
        self.agentId = agentId
        self.verdict = verdict
        self.summary = summary
        self.trigger = trigger
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.largestPassedBytes = largestPassedBytes
        self.firstBadMessage = firstBadMessage
        self.pongRttMs = pongRttMs
        self.probes = probes
        self.server = server
        self.agent = agent
        self.agentReportAt = agentReportAt
        self.pongRtt = pongRtt
        self.actions = actions
    }
}
