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

/// One unattributed attempt, with what `decide` makes of it alone.
public struct AttemptView: Codable, Sendable, Equatable {
    public var verdict: LinkVerdict
    public var stage: LinkStage
    public var summary: String
    public var fact: HandshakeFact
}

/// Why an agent's downlink is in its mode, in words (for `AgentView.downlinkReason`).
enum DownlinkReason {
    /// `mode` explained from the verdict history, newest first.
    static func explain(mode: DownlinkMode, history: [VerdictRecord]) -> String {
        explain(mode: mode, cause: history.first(where: { $0.verdict == .pathFiltersData }))
    }

    /// `mode` explained from the newest `pathFiltersData` verdict, if there is one.
    static func explain(mode: DownlinkMode, cause: VerdictRecord?) -> String {
        guard mode != .text else { return "text: the default" }
        let format = ISO8601DateFormatter()
        if let cause, cause.verdict == .pathFiltersData {
            return "\(mode.rawValue): \(cause.verdict.headline) (\(describe(cause.stage)), \(describe(cause.source))) since \(format.string(from: cause.firstAt))"
        }
        return "\(mode.rawValue): chosen by the agent when it connected; no verdict recorded (an operator may have started it with --downlink \(mode.rawValue))"
    }

    static func describe(_ source: LinkVerdictSource) -> String {
        switch source {
        case .serverProbe: return "server probe"
        case .agentReport: return "agent report"
        case .handshake: return "handshake, agent report"
        }
    }

    static func describe(_ stage: LinkStage) -> String {
        stage.isHandshake ? "handshake: \(stage.rawValue)" : "session"
    }
}
