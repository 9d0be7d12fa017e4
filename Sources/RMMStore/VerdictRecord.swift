import Foundation
import RMMProtocol

/// One entry of an agent's link verdict history: a verdict from one source at one stage, with the
/// evidence of its latest occurrence. A repeat (same verdict, source and stage as the agent's
/// newest entry) extends it: `lastAt` and `count` move, `firstAt` stays.
public struct VerdictRecord: Sendable, Equatable, Codable {
    /// Row id (newest is largest); nil before it is stored.
    public var id: Int64?
    public var agentId: String
    public var verdict: LinkVerdict
    public var source: LinkVerdictSource
    public var stage: LinkStage
    public var summary: String
    /// The evidence as JSON (at most `maxEvidenceBytes`; larger evidence is replaced by a note).
    public var evidence: Data
    public var firstAt: Date
    public var lastAt: Date
    public var count: Int

    /// Largest evidence stored with one entry.
    public static let maxEvidenceBytes = 16_384
    /// Entries kept per agent (the newest).
    public static let keptPerAgent = 100

    /// Of `keep` entries, how many may be agent reports (the newest of them): 30 of 100. The rest
    /// stays for the server's own evidence, however often the agent reports.
    public static func agentReportsKept(of keep: Int) -> Int { max(1, keep * 3 / 10) }

    public init(id: Int64? = nil, agentId: String, verdict: LinkVerdict, source: LinkVerdictSource, stage: LinkStage, summary: String,
                evidence: Data, firstAt: Date, lastAt: Date? = nil, count: Int = 1) {
        self.id = id
        self.agentId = agentId
        self.verdict = verdict
        self.source = source
        self.stage = stage
        self.summary = WireRange.clipped(summary, limit: 2048)
        self.evidence = evidence.count <= Self.maxEvidenceBytes
            ? evidence : Data(#"{"omitted":"evidence larger than 16384 bytes"}"#.utf8)
        self.firstAt = firstAt
        self.lastAt = lastAt ?? firstAt
        self.count = count
    }

    /// Whether `candidate` may replace `current` as an agent's newest entry: a larger or equal id
    /// (an extended entry keeps its id), or anything when there is no current one.
    public static func isNewer(_ candidate: VerdictRecord, than current: VerdictRecord?) -> Bool {
        guard let current, let currentId = current.id else { return true }
        guard let id = candidate.id else { return false }
        return id >= currentId
    }

    /// Whether `other` is a repeat of this entry (it then extends it).
    public func isRepeat(of other: VerdictRecord) -> Bool {
        agentId == other.agentId && verdict == other.verdict && source == other.source && stage == other.stage
    }
}
