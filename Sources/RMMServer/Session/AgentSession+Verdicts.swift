import Foundation
import RMMProtocol
import RMMStore

// The session's verdict history: every verdict reached about this agent, from any source, is
// recorded here (store, bounded and deduplicated), and delays it causes are noted on commands.
// `VerdictLedger` decides; these methods do the store I/O and the logging.
extension AgentSession {

    /// Records a verdict with its evidence. An adverse one is noted on every command written and not
    /// yet acknowledged, once per verdict kind, source and command (`notesDelays` false: the caller notes them, as
    /// a diagnosis does). Returns the stored entry, nil if the store failed.
    @discardableResult
    func recordVerdict(_ conclusion: LinkConclusion, source: LinkVerdictSource, evidence: LinkEvidence, at: Date, notesDelays: Bool = true) async -> VerdictRecord? {
        let record = VerdictRecord(agentId: agentId, verdict: conclusion.verdict, source: source, stage: conclusion.stage,
                                   summary: conclusion.summary, evidence: EvidenceFit.json(evidence), firstAt: at)
        let stored: VerdictRecord
        do {
            stored = try await store.recordVerdict(record, keep: VerdictRecord.keptPerAgent)
        } catch {
            logger.warning("could not record link verdict \(conclusion.verdict.rawValue): \(error)")
            return nil
        }
        metrics?.verdict(conclusion.verdict, source: source)
        if verdicts.recorded(stored) {
            logger.notice("link verdict (\(source.rawValue), \(conclusion.stage.rawValue)): \(conclusion.verdict.rawValue): \(LogSafe.text(conclusion.summary, limit: 400))")
        }
        if conclusion.verdict.isAdverse && notesDelays { await noteDelay(by: stored) }
        feed.bump()
        return stored
    }

    /// A history line on each command written and not yet acknowledged: the verdict delays it.
    /// At most one per command, verdict kind and source (a bounded number: the server's own
    /// evidence still gets its line after the agent's; kept in the store, so it holds however many
    /// commands wait), and only on commands still `sent` when the note is written: the check and
    /// the write are one transaction, and the command's state, reason and version stay.
    private func noteDelay(by entry: VerdictRecord) async {
        let ids = outbound.pendingCommandIds
        guard !ids.isEmpty else { return }
        let (note, once) = VerdictLedger.delayNote(for: entry)
        do {
            _ = try await store.noteDelay(commandIds: ids, note: note, once: once, now: Date())
        } catch {
            logger.warning("could not note link verdict \(entry.verdict.rawValue) on waiting commands: \(error)")
        }
    }

    /// Judges the findings of an agent's link report that were not judged before: each one the
    /// server's handshake book holds evidence for (by the connection id the agent names, proven
    /// now over this authenticated connection) becomes a handshake verdict combining both; the
    /// others become agent-report verdicts (`VerdictLedger.admit` says which are judged).
    /// Judging stops once the connection of `epoch` is no longer current (the new one carries the
    /// report again).
    func absorbFindings(of report: LinkReport, epoch: Int, now: Date) async {
        guard let findings = report.findings, !findings.isEmpty else { return }
        let sorted = findings.sorted(by: { $0.time < $1.time })
        for (index, finding) in sorted.enumerated() {
            guard connection?.epoch == epoch else { return }
            let (admission, logs) = verdicts.admit(sorted, at: index, now: now)
            for line in logs { logger.notice("\(line)") }
            guard admission != .full else { break }
            guard admission == .judge else { continue }
            let handshake = finding.connectionId.flatMap { handshakeBook?.claim(connectionId: $0) }
            let (evidence, at) = VerdictLedger.evidence(for: finding, of: report, handshake: handshake, now: now)
            guard let conclusion = LinkVerdict.decide(evidence).conclusion else {
                if let handshake { handshakeBook?.restore(handshake) }
                continue
            }
            if await recordVerdict(conclusion, source: evidence.source, evidence: evidence, at: at) == nil {
                // Not recorded: the claimed attempt goes back to the book, and the finding may be
                // judged again when the agent repeats it.
                if let handshake { handshakeBook?.restore(handshake) }
                verdicts.judgingFailed(finding)
            }
        }
    }

    /// The newest recorded verdict: this run's, else `storedLatest` (the store's newest, read by
    /// the caller with its neighbours' in one query).
    func currentVerdict(storedLatest: VerdictRecord?) -> VerdictRecord? {
        verdicts.current(storedLatest: storedLatest)
    }

    /// The newest recorded verdict (this run's, else the store's).
    func currentVerdict() async -> VerdictRecord? {
        if verdicts.latestLoaded { return verdicts.latest }
        guard let stored = try? await store.verdicts(agentId: agentId, limit: 1) else { return nil }
        // A verdict recorded while this read was in flight is newer: it wins.
        verdicts.loaded(stored.first)
        return verdicts.latest
    }
}
