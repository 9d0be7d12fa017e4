import Foundation
import Logging
import RMMStore

/// The server's tick loop: at each tick of the `SessionClock` it wakes the sessions that have a
/// duty due (heartbeats, pings, deadlines, retransmission) and writes the liveness they owe the
/// store in one batch; about once a second it also runs the command expiry sweep.
struct SessionTicker: Sendable {
    let clock: SessionClock
    let store: any LivenessStore
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

    /// Wakes every session due by `now` and saves the liveness they hand back, together.
    /// Returns how many sessions it woke.
    @discardableResult
    func tick(now: Date) async -> Int {
        let due = clock.popDue(now: now)
        var batch: [(agentId: String, liveness: AgentLiveness)] = []
        for session in due {
            if let liveness = await session.wake(now: now) { batch.append((session.agentId, liveness)) }
        }
        guard !batch.isEmpty else { return due.count }
        do {
            let unknown = try await store.saveLiveness(batch)
            if !unknown.isEmpty { logger.warning("liveness of \(unknown.count) unknown agent(s) not saved: \(unknown.prefix(5))") }
        } catch {
            // Sessions keep their liveness in memory and send it again at their next flush.
            logger.warning("could not save liveness of \(batch.count) agent(s): \(error)")
        }
        return due.count
    }
}
