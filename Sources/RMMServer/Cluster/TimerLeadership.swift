import Foundation
import RMMStore

/// Which node runs the cluster-wide timers (the expiry and result-timeout sweeps), and on whose
/// clock. Their transitions are conditional (a move the lifecycle refuses changes nothing), so a
/// second runner could not apply one twice; one runner keeps the work and the log lines single.
protocol TimerLeadership: Sendable {
    /// The time to sweep at if this node runs the timers now (the database's clock where it has
    /// one), else nil.
    func lead(localNow: Date) async -> Date?
}

/// One node alone (SQLite): always the leader, on its own clock.
struct SoleTimerLeader: TimerLeadership {
    func lead(localNow: Date) async -> Date? { localNow }
}

/// The node holding the PostgreSQL advisory lock leads, on the database's clock.
struct PostgresTimerLeadership: TimerLeadership {
    let lease: PostgresTimerLease

    func lead(localNow: Date) async -> Date? { await lease.lead() }
}
