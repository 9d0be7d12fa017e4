import Crypto
import Foundation
import RMMAPI
import RMMProtocol
import RMMStore

// The API's views built from store records: RMMAPI describes the JSON and never sees the store.

extension CommandView {
    /// The record's view; `textLimit` cuts the command text (in lists) to that many UTF-8 bytes' worth.
    init(_ r: CommandRecord, agentName: String?, textLimit: Int = Int.max) {
        self.init(
            id: r.id, agentId: r.agentId, agent: agentName, batchId: r.batchId, kind: r.kind,
            text: r.text.utf8.count > textLimit ? String(r.text.prefix(textLimit)) + "…" : r.text,
            interpreter: r.interpreter, state: r.state, terminal: r.state.isTerminal, reason: r.reason, exitCode: r.exitCode,
            signal: r.signal, createdAt: r.createdAt, updatedAt: r.updatedAt, expiresAt: r.expiresAt, timeoutSeconds: r.timeoutSeconds,
            createdBy: r.createdBy, stdoutTruncated: r.stdoutTruncated, stderrTruncated: r.stderrTruncated, stdout: nil, stderr: nil
        )
    }
}

extension CommandBrief {
    /// The record's brief, as a compact events stream writes it.
    init(_ r: CommandRecord, agentName: String?) {
        self.init(id: r.id, agentId: r.agentId, agent: agentName, state: r.state, exitCode: r.exitCode, reason: r.reason)
    }
}

extension EnrollmentTokenView {
    /// The record's view, with the secret only when it was just created.
    init(_ record: EnrollmentTokenRecord, secret: String?) {
        self.init(
            id: record.id, token: secret, createdAt: record.createdAt, expiresAt: record.expiresAt, usesLeft: record.usesLeft,
            revoked: record.revokedAt != nil, revokedAt: record.revokedAt
        )
    }
}

extension APITokenView {
    /// The record's view, with the secret only when it was just created.
    init(_ record: APITokenRecord, secret: String?) {
        self.init(id: record.id, name: record.name, role: record.role, createdAt: record.createdAt, revokedAt: record.revokedAt, token: secret)
    }
}

extension VerdictView {
    /// The record's view; its stored evidence only when asked for.
    init(_ record: VerdictRecord, withEvidence: Bool) {
        self.init(
            verdict: record.verdict, source: record.source, stage: record.stage, headline: record.verdict.headline,
            summary: record.summary, firstAt: record.firstAt, lastAt: record.lastAt, count: record.count,
            evidence: withEvidence ? try? APICoding.decoder().decode(LinkEvidence.self, from: record.evidence) : nil
        )
    }
}

extension AttemptView {
    /// The attempt as shown: its connection id replaced by `connectionTag(_:)`.
    init(verdict: LinkVerdict, stage: LinkStage, summary: String, fact: HandshakeFact) {
        var shown = fact
        shown.connectionId = nil
        self.init(verdict: verdict, stage: stage, summary: summary, connectionTag: fact.connectionId.map(Self.connectionTag), fact: shown)
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
