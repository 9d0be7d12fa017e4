/// Decides when a node renews its name's lease, when it must stop, and what it says about a
/// database that does not answer: from what the renewals answered and the time (`now` passed in,
/// a monotonic clock).
///
/// A node keeps serving while its lease is unconfirmed (the database unreachable, renewals failing
/// or unanswered), however long that lasts, and stops only when a renewal that the database
/// answers finds the name taken by another start (`lost()`). Stopping at the lease's end instead
/// would make a database outage longer than the lease end every node's sessions at once, and all
/// their agents reconnect together when it is back.
///
/// Why serving on an unconfirmed lease is safe: the name guards no write. Every move of a command
/// to `sent` is `SessionRouteStore.markSent`, a transaction that confirms the agent's current
/// epoch, so a node cut off from the database cannot send work at all, and once it reaches the
/// database again a connection superseded meanwhile (the agent reconnected elsewhere) is told so
/// and closed; an agent's reports are acknowledged only after their write committed. What the
/// name does guard is the `nodes` row (URLs in welcomes, the draining mark): the renewal updates
/// only the row of this start's `instance`, so if another start took the expired name meanwhile,
/// the first answer this node gets is `lost` and it stops, before any of its writes can touch the
/// other start's row. Until then two processes may carry one name, and the newer one's row is the
/// one listed.
struct NodeLeaseMachine {
    typealias Instant = ContinuousClock.Instant

    /// What the node does next.
    enum Action: Equatable {
        /// Nothing until `until` (then ask again).
        case wait(until: Instant)
        /// Renew now; an answer that comes after `deadline` is too late and counts as a failure.
        case renew(deadline: Instant)
        /// Stop taking work, for this reason.
        case stop(String)
    }

    let lease: Duration
    let renewEvery: Duration
    /// How long a renewal may go unanswered before it counts as failed.
    let answerWithin: Duration
    /// How soon a failed renewal is tried again.
    let retryEvery: Duration
    /// How often a database that stays away is mentioned again in the log.
    let reportEvery: Duration
    /// Until when the lease is surely this start's, on the node's clock (past it: unconfirmed).
    private(set) var validUntil: Instant
    private var nextRenewal: Instant
    private var stopReason: String?
    /// Since when renewals have failed, if they do now.
    private(set) var failingSince: Instant?
    private var lastReport: Instant?

    /// A lease just acquired by a request sent at `acquiredAt`.
    init(acquiredAt: Instant, lease: Duration, renewEvery: Duration, answerWithin: Duration = .seconds(3),
         retryEvery: Duration = .seconds(1), reportEvery: Duration = .seconds(30)) {
        self.lease = lease
        self.renewEvery = renewEvery
        self.answerWithin = answerWithin
        self.retryEvery = retryEvery
        self.reportEvery = reportEvery
        validUntil = acquiredAt + lease
        nextRenewal = acquiredAt + renewEvery
    }

    /// Whether the database confirmed the lease recently enough that it has not run out yet.
    func confirmed(now: Instant) -> Bool { now < validUntil }

    /// What to do at `now`.
    mutating func next(now: Instant) -> Action {
        if let stopReason { return .stop(stopReason) }
        if now >= nextRenewal { return .renew(deadline: now + answerWithin) }
        return .wait(until: nextRenewal)
    }

    /// A renewal sent at `sentAt` succeeded (answered at `now`). Returns a line for the log when
    /// it ends an outage.
    mutating func renewed(sentAt: Instant, now: Instant) -> String? {
        validUntil = max(validUntil, sentAt + lease)
        nextRenewal = sentAt + renewEvery
        defer {
            failingSince = nil
            lastReport = nil
        }
        guard let since = failingSince else { return nil }
        return "the database answered again after \(Self.seconds(now - since)) s; the lease on the name is renewed"
    }

    /// The database says another start holds the name.
    mutating func lost() {
        stopReason = "another start of this node name took its lease while this one could not renew it; this one stops taking work"
    }

    /// A renewal failed at `now` (the database unreachable, no answer before the deadline).
    /// Returns a line for the log: the first failure, then one every `reportEvery`, so a long
    /// outage logs at a bounded rate.
    mutating func failed(_ why: String, now: Instant) -> String? {
        let since = failingSince ?? now
        failingSince = since
        nextRenewal = now + retryEvery
        if let lastReport, now - lastReport < reportEvery { return nil }
        lastReport = now
        let lease = confirmed(now: now)
            ? "the lease on the name is still confirmed"
            : "the lease on the name is unconfirmed; this node keeps serving and stops only if another start took the name"
        return "cannot renew this node's lease: the database is unreachable for \(Self.seconds(now - since)) s (\(why)); \(lease)"
    }

    private static func seconds(_ duration: Duration) -> Int {
        Int(duration.components.seconds)
    }
}
