import Crypto
import Foundation
import RMMProtocol
import RMMStore

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

    init(_ record: VerdictRecord, withEvidence: Bool) {
        verdict = record.verdict
        source = record.source
        stage = record.stage
        headline = record.verdict.headline
        summary = record.summary
        firstAt = record.firstAt
        lastAt = record.lastAt
        count = record.count
        evidence = withEvidence ? try? APICoding.decoder().decode(LinkEvidence.self, from: record.evidence) : nil
    }
}

/// Failed connection attempts from one address that no agent has claimed: evidence attributed to
/// no agent (`GET /api/v1/link/addresses`).
public struct AddressEvidenceView: Codable, Sendable, Equatable {
    public var address: String
    /// Always false: nothing here is tied to an agent.
    public var attributed: Bool
    public var attempts: [AttemptView]
}

/// One unattributed attempt, with what `decide` makes of it alone. The connection id stays on the
/// server: whoever names it in a link report claims the attempt, so the API shows only a tag.
public struct AttemptView: Codable, Sendable, Equatable {
    public var verdict: LinkVerdict
    public var stage: LinkStage
    public var summary: String
    /// `connectionTag(_:)` of the attempt's connection id (nil at the TLS stage): tells attempts
    /// apart, but cannot be turned back into the id.
    public var connectionTag: String?
    /// The attempt's fact, without its connection id.
    public var fact: HandshakeFact

    init(verdict: LinkVerdict, stage: LinkStage, summary: String, fact: HandshakeFact) {
        self.verdict = verdict
        self.stage = stage
        self.summary = summary
        connectionTag = fact.connectionId.map(Self.connectionTag)
        var shown = fact
        shown.connectionId = nil
        self.fact = shown
    }

    /// The first 8 hex digits of the SHA-256 of a connection id.
    static func connectionTag(_ id: String) -> String {
        SHA256.hash(data: Data(id.utf8)).prefix(4).map { String(format: "%02x", $0) }.joined()
    }
}

/// Why an agent's downlink is in its mode, in words (for `AgentView.downlinkReason`).
enum DownlinkReason {
    /// `mode` explained by its cause: the `pathFiltersData` verdict `VerdictStore.latestVerdicts(agentIds:
    /// only:)` chooses (the newest the server has its own evidence of, else the agent's report).
    static func explain(mode: DownlinkMode, cause: VerdictRecord?) -> String {
        guard mode != .text else { return "text: the default" }
        let format = ISO8601DateFormatter()
        if let cause, cause.verdict == .pathFiltersData {
            return "\(mode.rawValue): \(cause.verdict.headline) since \(format.string(from: cause.firstAt)) (\(LinkProvenance.words(stage: cause.stage, source: cause.source)))"
        }
        return "\(mode.rawValue): chosen by the agent when it connected; no verdict recorded (an operator may have started it with --downlink \(mode.rawValue))"
    }

}
