import Foundation
import Logging
import RMMStore

/// The server's tick loop: at each tick of the `SessionClock` it wakes the sessions that have a
/// duty due (heartbeats, pings, deadlines, retransmission) and writes the liveness they owe the
/// store in one batch, and the metric histories they owe in another at the same time (on SQLite
/// both join one group commit); about once a second it also runs the command expiry sweep.
struct SessionTicker: Sendable {
    let clock: SessionClock
    let store: any LivenessStore & MetricHistoryStore
    let commands: CommandService
    let settings: ServerSettings
    let logger: Logger
    /// Runs the expiry sweep on one node of a cluster at a time (always this one, alone).
    var leadership: any TimerLeadership = SoleTimerLeader()

    /// Ticks until the task is cancelled, on the clock's slot boundaries.
    func run() async {
        var lastSweep = Date.distantPast
        while !Task.isCancelled {
            let now = Date()
            await tick(now: now)
            if now.timeIntervalSince(lastSweep) >= settings.expirySweepInterval {
                lastSweep = now
                if let at = await leadership.lead(localNow: now) { await commands.expireOverdue(now: at) }
            }
            // Sleeping to the next boundary (rather than a fixed interval after the work) keeps a
            // session woken at most one interval after its due time, however long a tick took.
            let wait = max(clock.nextTick(after: Date()).timeIntervalSinceNow, 0.01)
            try? await Task.sleep(for: .milliseconds(Int((wait * 1000).rounded(.up))))
        }
    }

    /// Wakes every session due by `now` and saves the liveness and histories they hand back,
    /// together. Returns how many sessions it woke.
    @discardableResult
    func tick(now: Date) async -> Int {
        let due = clock.popDue(now: now)
        var batch: [(agentId: String, liveness: AgentLiveness)] = []
        var histories: [(session: AgentSession, samples: [PendingMetricSamples.Sample])] = []
        for session in due {
            let duties = await session.duties(now: now)
            if let liveness = duties.liveness { batch.append((session.agentId, liveness)) }
            if let samples = duties.history { histories.append((session, samples)) }
        }
        let historyBatch = histories
        async let historiesSaved: Void = saveHistories(historyBatch, now: now)
        await saveLiveness(batch)
        await historiesSaved
        return due.count
    }

    private func saveLiveness(_ batch: [(agentId: String, liveness: AgentLiveness)]) async {
        guard !batch.isEmpty else { return }
        do {
            let unknown = try await store.saveLiveness(batch)
            if !unknown.isEmpty { logger.warning("liveness of \(unknown.count) unknown agent(s) not saved: \(unknown.prefix(5))") }
        } catch {
            // Sessions keep their liveness in memory and send it again at their next flush.
            logger.warning("could not save liveness of \(batch.count) agent(s): \(error)")
        }
    }

    /// Folds the samples the sessions handed back into their agents' stored histories. A failed
    /// write loses nothing: the samples go back to their sessions for the next write.
    private func saveHistories(_ histories: [(session: AgentSession, samples: [PendingMetricSamples.Sample])], now: Date) async {
        guard !histories.isEmpty else { return }
        do {
            try await MetricHistoryWrite.save(histories.map { ($0.session.agentId, $0.samples) }, store: store, logger: logger, now: now)
        } catch {
            logger.warning("could not save metric history of \(histories.count) agent(s): \(error)")
            for (session, samples) in histories { await session.returnMetricSamples(samples, now: now) }
        }
    }
}
