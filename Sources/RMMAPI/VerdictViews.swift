import Foundation
import RMMProtocol

/// One entry of an agent's link verdict history, as the API shows it.
public struct VerdictView: Codable, Sendable, Equatable {
    public var verdict: LinkVerdict
    /// `server-probe`, `agent-report` or `handshake`.
    public var source: LinkVerdictSource
    /// `tls`, `challenge`, `welcome` (before authentication) or `session`.
    public var stage: LinkStage
    /// A few words naming the verdict.
    public var headline: String
    public var summary: String
    /// First and latest time this verdict was reached in a row, and how often.
    public var firstAt: Date
    public var lastAt: Date
    public var count: Int
    /// The evidence of the latest occurrence (a `LinkEvidence`, as JSON).
    public var evidence: LinkEvidence?

    /// Every field, as the server fills it in.
    public init(
        verdict: LinkVerdict, source: LinkVerdictSource, stage: LinkStage, headline: String, summary: String, firstAt: Date, lastAt: Date,
        count: Int, evidence: LinkEvidence?
    ) {
        self.verdict = verdict
        self.source = source
        self.stage = stage
        self.headline = headline
        self.summary = summary
        self.firstAt = firstAt
        self.lastAt = lastAt
        self.count = count
        self.evidence = evidence
    }
}

/// Failed connection attempts from one address that no agent has claimed: evidence attributed to
/// no agent (`GET /api/v1/link/addresses`).
public struct AddressEvidenceView: Codable, Sendable, Equatable {
    public var address: String
    /// Always false: nothing here is tied to an agent.
    public var attributed: Bool
    public var attempts: [AttemptView]

    /// Every field, as the server fills it in.
    public init(address: String, attributed: Bool, attempts: [AttemptView]) {
        self.address = address
        self.attributed = attributed
        self.attempts = attempts
    }
}

/// One unattributed attempt, with what `decide` makes of it alone. The connection id stays on the
/// server: whoever names it in a link report claims the attempt, so the API shows only a tag.
public struct AttemptView: Codable, Sendable, Equatable {
    public var verdict: LinkVerdict
    public var stage: LinkStage
    public var summary: String
    /// A one-way tag of the attempt's connection id (nil at the TLS stage): tells attempts
    /// apart, but cannot be turned back into the id.
    public var connectionTag: String?
    /// The attempt's fact, without its connection id.
    public var fact: HandshakeFact

    /// Every field, as the server fills it in.
    public init(verdict: LinkVerdict, stage: LinkStage, summary: String, connectionTag: String?, fact: HandshakeFact) {
        self.verdict = verdict
        self.stage = stage
        self.summary = summary
        self.connectionTag = connectionTag
        self.fact = fact
    }
}
