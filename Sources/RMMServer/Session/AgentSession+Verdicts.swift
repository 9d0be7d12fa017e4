import Foundation
import RMMProtocol
import RMMStore

// The session's verdict history: every verdict reached about this agent, from any source, is
// recorded here (store, bounded and deduplicated), and delays it causes are noted on commands.
extension AgentSession {

    /// Records a verdict with its evidence. An adverse one is noted on every command written and not
    /// yet acknowledged, once per verdict kind, source and command (`notesDelays` false: the caller notes them, as
    /// a diagnosis does). Returns the stored entry, nil if the store failed.
    @discardableResult
    func recordVerdict(_ conclusion: LinkConclusion, source: LinkVerdictSource, evidence: LinkEvidence, at: Date, notesDelays: Bool = true) async -> VerdictRecord? {
        let json = EvidenceFit.json(evidence)
        let record = VerdictRecord(agentId: agentId, verdict: conclusion.verdict, source: source, stage: conclusion.stage,
                                   summary: conclusion.summary, evidence: json, firstAt: at)
        let stored: VerdictRecord
        do {
            stored = try await store.recordVerdict(record, keep: VerdictRecord.keptPerAgent)
        } catch {
            logger.warning("could not record link verdict \(conclusion.verdict.rawValue): \(error)")
            return nil
        }
        // Concurrent calls resume in any order: an older entry never replaces a newer one.
        if VerdictRecord.isNewer(stored, than: latestVerdict) { latestVerdict = stored }
        latestVerdictLoaded = true
        if stored.count == 1 {
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
        let since = ISO8601DateFormatter().string(from: entry.firstAt)
        let once = "delayed by link verdict \(entry.verdict.rawValue) (\(entry.source.rawValue), "
        let note = "\(once)\(entry.stage.rawValue)) since \(since): \(entry.summary)"
        do {
            _ = try await store.noteDelay(commandIds: ids, note: note, once: once, now: Date())
        } catch {
            logger.warning("could not note link verdict \(entry.verdict.rawValue) on waiting commands: \(error)")
        }
    }

    /// Judges the findings of an agent's link report that were not judged before: each one the
    /// server's handshake book holds evidence for (by the connection id the agent names, proven
    /// now over this authenticated connection) becomes a handshake verdict combining both; the
    /// others become agent-report verdicts.
    /// Each finding's key joins the judged set before any await, so a report repeated on a new
    /// connection while this one waits on the store is not judged twice; and judging stops once
    /// the connection of `epoch` is no longer current (the new one carries the report again).
    func absorbFindings(of report: LinkReport, epoch: Int, now: Date) async {
        guard let findings = report.findings, !findings.isEmpty else { return }
        let sorted = findings.sorted(by: { $0.time < $1.time })
        for (index, finding) in sorted.enumerated() {
            guard connection?.epoch == epoch else { return }
            let key = Self.judgedKey(finding)
            if judgedFindings?.contains(key) == true { continue }
            // At most `maxPerReport` new findings per window of 10 s; more are dropped unjudged.
            var window = findingWindow ?? FindingWindow(start: now)
            if now.timeIntervalSince(window.start) >= 10 || now < window.start {
                logDropped(window)
                window = FindingWindow(start: now)
            }
            guard window.count < LinkFinding.maxPerReport else {
                // One log line per window at most (reports have no rate limit): the first drop
                // says so; later ones are counted and logged when the window ends.
                let dropped = sorted[index...].filter { judgedFindings?.contains(Self.judgedKey($0)) != true }.count
                if window.droppedLogged == 0 {
                    logger.notice("ignored \(dropped) agent findings beyond \(LinkFinding.maxPerReport) per 10 s")
                    window.droppedLogged = dropped
                } else {
                    window.dropped += dropped
                }
                findingWindow = window
                break
            }
            window.count += 1
            findingWindow = window
            // Bounded: the agent sends at most `LinkFinding.maxPerReport` at a time.
            judgedFindings = Array(((judgedFindings ?? []) + [key]).suffix(4 * LinkFinding.maxPerReport))
            let at = Date(timeIntervalSince1970: min(finding.time, now.timeIntervalSince1970))
            var evidence = LinkEvidence(source: .agentReport, now: now.timeIntervalSince1970, downlinkMode: finding.downlinkMode)
            evidence.finding = finding
            evidence.agent = report
            evidence.agentReportAt = now.timeIntervalSince1970
            if let id = finding.connectionId, let fact = handshakeBook?.claim(connectionId: id) {
                evidence.source = .handshake
                evidence.handshake = fact
                evidence.downlinkMode = fact.downlinkMode
            }
            guard let conclusion = LinkVerdict.decide(evidence).conclusion else {
                if let fact = evidence.handshake { handshakeBook?.restore(fact) }
                continue
            }
            if await recordVerdict(conclusion, source: evidence.source, evidence: evidence, at: at) == nil {
                // Not recorded: the claimed attempt goes back to the book, and the finding may be
                // judged again when the agent repeats it.
                if let fact = evidence.handshake { handshakeBook?.restore(fact) }
                judgedFindings?.removeAll { $0 == key }
            }
        }
    }

    /// The key a finding is judged once under.
    private static func judgedKey(_ finding: LinkFinding) -> String {
        "\(finding.kind.rawValue)|\(finding.time)|\(finding.connectionId ?? "")"
    }

    /// Logs the findings dropped in `window` after its first log line, if any.
    private func logDropped(_ window: FindingWindow) {
        guard window.dropped > 0 else { return }
        logger.notice("ignored \(window.dropped) more agent findings beyond \(LinkFinding.maxPerReport) in the 10 s after \(ISO8601DateFormatter().string(from: window.start))")
    }

    /// The newest recorded verdict: this run's, else `storedLatest` (the store's newest, read by
    /// the caller with its neighbours' in one query).
    func currentVerdict(storedLatest: VerdictRecord?) -> VerdictRecord? {
        latestVerdictLoaded ? latestVerdict : storedLatest
    }

    /// The newest recorded verdict (this run's, else the store's).
    func currentVerdict() async -> VerdictRecord? {
        if latestVerdictLoaded { return latestVerdict }
        guard let stored = try? await store.verdicts(agentId: agentId, limit: 1) else { return nil }
        // A verdict recorded while this read was in flight is newer: it wins.
        if !latestVerdictLoaded {
            latestVerdict = stored.first
            latestVerdictLoaded = true
        }
        return latestVerdict
    }
}
