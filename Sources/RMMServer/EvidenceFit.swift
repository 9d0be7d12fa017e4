import Foundation
import RMMProtocol
import RMMStore

/// Evidence as stored with a verdict entry, within `VerdictRecord.maxEvidenceBytes`.
enum EvidenceFit {
    /// `evidence` as JSON within `limit`. What the agent sent is trimmed first (its reconnect list
    /// and findings, then its whole report), so an agent padding its report cannot push out what
    /// the server itself saw (probes, a handshake fact); the store's note replaces the rest only
    /// when even that does not fit.
    static func json(_ evidence: LinkEvidence, limit: Int = VerdictRecord.maxEvidenceBytes) -> Data {
        var trimmed = evidence
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

    private static func encode(_ evidence: LinkEvidence) -> Data {
        (try? APICoding.encoder().encode(evidence)) ?? Data("{}".utf8)
    }
}
