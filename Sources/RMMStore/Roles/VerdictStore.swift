import Foundation
import RMMProtocol

/// Link health evidence: each agent's verdict history and latest link diagnosis, and the notes a
/// verdict leaves on the commands it holds up.
public protocol VerdictStore: Sendable {
    /// Records a link verdict: a repeat of the agent's newest entry (same verdict, source and
    /// stage) extends it; anything else is a new entry, and only the newest `keep` are kept, of
    /// which at most `VerdictRecord.agentReportsKept(of: keep)` agent reports.
    /// Returns the stored entry (`count` 1 when new).
    func recordVerdict(_ record: VerdictRecord, keep: Int) async throws -> VerdictRecord
    /// The agent's verdict history, newest first.
    func verdicts(agentId: String, limit: Int) async throws -> [VerdictRecord]
    /// Each given agent's newest verdict, by agent id, in one query; agents without one are left
    /// out. With `only`, the newest of that kind the server has its own evidence of (a probe or a
    /// handshake), else the newest of that kind (an agent's report alone).
    func latestVerdicts(agentIds: [String], only: LinkVerdict?) async throws -> [String: VerdictRecord]
    /// Appends `note` to the history of each command in `commandIds` that is still `sent` and has
    /// no earlier history note starting with `once` — in one transaction, so a command requeued or
    /// ended meanwhile gets nothing. The command itself (state, reason, version) is not changed.
    /// Returns the ids noted.
    func noteDelay(commandIds: [String], note: String, once: String, now: Date) async throws -> [String]

    /// Keeps the latest link diagnosis of an agent (JSON the store does not interpret).
    func saveLinkDiagnosis(agentId: String, _ json: Data) async throws
    func linkDiagnosis(agentId: String) async throws -> Data?
    /// The stored link diagnoses of the given agents, by id, in one query (agents without one are left out).
    func linkDiagnoses(agentIds: [String]) async throws -> [String: Data]
}
