import Foundation
import RMMAPI
import RMMProtocol
import RMMStore

/// Evidence as stored with a verdict entry, within `VerdictRecord.maxEvidenceBytes`.
enum EvidenceFit {
    /// `evidence` as JSON within `limit`. What the agent sent is trimmed first (its reconnect list
    /// and findings, then its whole report), so an agent padding its report cannot push out what
    /// the server itself saw (probes, a handshake fact); the store's note replaces the rest only
    /// when even that does not fit.
    /// Every connection id in it is replaced by its tag first (`AttemptView.connectionTag`):
    /// evidence is served to any API role, and an id still unclaimed in the handshake book could
    /// be claimed by whoever reads it and controls an enrolled agent.
    static func json(_ evidence: LinkEvidence, limit: Int = VerdictRecord.maxEvidenceBytes) -> Data {
        var trimmed = withoutConnectionIds(evidence)
        var json = encode(trimmed)
        if json.count <= limit { return json }
        if var agent = trimmed.agent {
            agent.reconnects = []
            agent.findings = nil
            agent.agentFinding = agent.agentFinding.map { WireRange.clipped($0, limit: 256) }
            trimmed.agent = agent
        }
        json = encode(trimmed)
        if json.count <= limit { return json }
        trimmed.agent = nil
        return encode(trimmed)
    }

    /// `evidence` with each connection id (the handshake fact's, the judged finding's and those of
    /// the agent's reported findings) replaced by its tag.
    static func withoutConnectionIds(_ evidence: LinkEvidence) -> LinkEvidence {
        let tag = { (id: String?) in id.map(AttemptView.connectionTag) }
        var shown = evidence
        let handshakeId = shown.handshake?.connectionId, findingId = shown.finding?.connectionId
        shown.handshake?.connectionId = tag(handshakeId)
        shown.finding?.connectionId = tag(findingId)
        if let findings = shown.agent?.findings {
            shown.agent?.findings = findings.map { finding in
                var finding = finding
                finding.connectionId = tag(finding.connectionId)
                return finding
            }
        }
        return shown
    }

    private static func encode(_ evidence: LinkEvidence) -> Data {
        (try? APICoding.encoder().encode(evidence)) ?? Data("{}".utf8)
    }
}
