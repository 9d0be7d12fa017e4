import Foundation
import Synchronization

/// The server's one timer for agent sessions: each session files itself under its next duty
/// (heartbeat, ping, inbound deadline, retransmission, liveness flush, or "the next tick" for an
/// owed ack), and the tick loop (`SessionTicker`) visits only the sessions due. An idle fleet then
/// costs a visit per session per heartbeat interval instead of one per tick.
///
/// Sessions call it from their own actor and the ticker from its task, so the wheel sits behind a
/// lock; every operation under it is O(1) apart from `popDue`, which is O(due sessions).
final class SessionClock: Sendable {
    private let wheel: Mutex<TimerWheel<AgentSession>>
    /// Seconds per slot: the tick interval.
    let interval: Double

    init(interval: Double, now: Date = Date()) {
        self.interval = interval
        wheel = Mutex(TimerWheel(interval: interval, now: now))
    }

    /// Wakes `session` at the first tick at or after `due` (unless it is already due earlier).
    func schedule(_ session: AgentSession, at due: Date) {
        wheel.withLock { $0.schedule(session, at: due) }
    }

    /// Wakes `session` at the next tick.
    func scheduleSoon(_ session: AgentSession) {
        wheel.withLock { $0.scheduleSoon(session) }
    }

    /// The sessions due by `now`, each once; they are no longer scheduled until they say when next.
    func popDue(now: Date) -> [AgentSession] {
        wheel.withLock { $0.popDue(now: now) }
    }

    /// When the next tick after `date` should run.
    func nextTick(after date: Date) -> Date {
        wheel.withLock { $0.nextBoundary(after: date) }
    }

    /// Whether `session` is scheduled.
    func isScheduled(_ session: AgentSession) -> Bool {
        wheel.withLock { $0.contains(session) }
    }

    /// How many sessions are scheduled.
    var scheduledCount: Int {
        wheel.withLock { $0.count }
    }
}
