import Foundation
import RMMProtocol
import RMMStore

// The session's verdict history: every verdict reached about this agent, from any source, is
// recorded here (store, bounded and deduplicated), and delays it causes are noted on commands.
extension AgentSession {

    /// Records a verdict with its evidence. An adverse one is noted on every command written and not
    /// yet acknowledged, once per entry and command (`notesDelays` false: the caller notes them, as
    /// a diagnosis does). Returns the stored entry, nil if the store failed.
    @discardableResult
    func recordVerdict(_ conclusion: LinkConclusion, source: LinkVerdictSource, evidence: LinkEvidence, at: Date, notesDelays: Bool = true) async -> VerdictRecord? {
        let json = (try? APICoding.encoder().encode(evidence)) ?? Data("{}".utf8)
        let record = VerdictRecord(agentId: agentId, verdict: conclusion.verdict, source: source, stage: conclusion.stage,
                                   summary: conclusion.summary, evidence: json, firstAt: at)
        let stored: VerdictRecord
        do {
            stored = try await store.recordVerdict(record, keep: VerdictRecord.keptPerAgent)
        } catch {
            logger.warning("could not record link verdict \(conclusion.verdict.rawValue): \(error)")
            return nil
        }
        latestVerdict = stored
        latestVerdictLoaded = true
        if stored.count == 1 {
            logger.notice("link verdict (\(source.rawValue), \(conclusion.stage.rawValue)): \(conclusion.verdict.rawValue): \(LogSafe.text(conclusion.summary, limit: 400))")
        }
        if conclusion.verdict.isAdverse && notesDelays { await noteDelay(by: stored) }
        feed.bump()
        return stored
    }

    /// A history line on each command written and not yet acknowledged: the verdict delays it.
    private func noteDelay(by entry: VerdictRecord) async {
        let since = ISO8601DateFormatter().string(from: entry.firstAt)
        let note = "delayed by link verdict \(entry.verdict.rawValue) (\(entry.source.rawValue), \(entry.stage.rawValue)) since \(since): \(entry.summary)"
        var noted = notedDelays ?? []
        for item in outbox.unacknowledged {
            // A queued command was never written; its state stays (notes go on `sent` ones only).
            guard let id = item.item.commandId else { continue }
            let key = "\(entry.id ?? 0)|\(id)"
            guard !noted.contains(key), (try? await store.command(id: id))?.state == .sent else { continue }
            noted.append(key)
            _ = try? await store.transition(commandId: id, to: .sent, reason: note, now: Date())
        }
        notedDelays = Array(noted.suffix(256))
    }

    /// Judges the findings of an agent's link report that were not judged before: each one the
    /// server's handshake book holds evidence for (by the connection id the agent names, proven
    /// now over this authenticated connection) becomes a handshake verdict combining both; the
    /// others become agent-report verdicts.
    func absorbFindings(of report: LinkReport, now: Date) async {
        guard let findings = report.findings, !findings.isEmpty else { return }
        var judged = judgedFindings ?? []
        for finding in findings.sorted(by: { $0.time < $1.time }) {
            let key = "\(finding.kind.rawValue)|\(finding.time)|\(finding.connectionId ?? "")"
            if judged.contains(key) { continue }
            // At most `maxPerReport` new findings per window of 10 s; more are dropped unjudged.
            var window = findingWindow ?? (now, 0)
            if now.timeIntervalSince(window.start) >= 10 || now < window.start { window = (now, 0) }
            guard window.count < LinkFinding.maxPerReport else {
                logger.notice("ignored agent findings beyond \(LinkFinding.maxPerReport) per 10 s")
                break
            }
            window.count += 1
            findingWindow = window
            judged.append(key)
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
            guard let conclusion = LinkVerdict.decide(evidence).conclusion else { continue }
            await recordVerdict(conclusion, source: evidence.source, evidence: evidence, at: at)
        }
        // Bounded: the agent sends at most `LinkFinding.maxPerReport` at a time.
        judgedFindings = Array(judged.suffix(4 * LinkFinding.maxPerReport))
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
