/// Decides when a node renews its name's lease and when it must stop taking work, from what the
/// renewals answered and the time (`now` passed in, a monotonic clock).
///
/// The node never trusts its clock against the database's: a renewal that succeeds was made at
/// or after the moment its request was sent, so the database's expiry is at least
/// `sentAt + lease` on the node's own clock. The node counts its lease valid until then, minus
/// `margin` (for clock rates and the time a stop takes), and stops at that point unless a later
/// renewal moved it. Another start can take the name only after the database's expiry, so the
/// two never run under one name at once.
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
    let margin: Duration
    /// How soon a failed renewal is tried again.
    let retryEvery: Duration
    /// Until when the lease is surely this start's, on the node's clock.
    private(set) var validUntil: Instant
    private var nextRenewal: Instant
    private var stopReason: String?
    private var failingSince: Instant?
    private var lastFailure: String?

    /// A lease just acquired by a request sent at `acquiredAt`.
    init(acquiredAt: Instant, lease: Duration, renewEvery: Duration, margin: Duration, retryEvery: Duration = .seconds(1)) {
        self.lease = lease
        self.renewEvery = renewEvery
        self.margin = margin
        self.retryEvery = retryEvery
        validUntil = acquiredAt + lease
        nextRenewal = acquiredAt + renewEvery
    }

    private var stopAt: Instant { validUntil - margin }

    /// What to do at `now`.
    mutating func next(now: Instant) -> Action {
        if let stopReason { return .stop(stopReason) }
        if now >= stopAt {
            let why = lastFailure.map { "the database did not renew it (\($0))" } ?? "no renewal answered in time"
            stopReason = "this node's lease on its name ran out: \(why); another node may take the name now, so this one stops taking work"
            return .stop(stopReason ?? "")
        }
        if now >= nextRenewal { return .renew(deadline: stopAt) }
        return .wait(until: min(nextRenewal, stopAt))
    }

    /// A renewal sent at `sentAt` succeeded.
    mutating func renewed(sentAt: Instant) {
        validUntil = max(validUntil, sentAt + lease)
        nextRenewal = sentAt + renewEvery
        failingSince = nil
        lastFailure = nil
    }

    /// The database says another start holds the name.
    mutating func lost() {
        stopReason = "another start of this node name took its lease (this node's lease had expired); this one stops taking work"
    }

    /// A renewal failed at `now` (the database unreachable, no answer before the deadline).
    mutating func failed(_ why: String, now: Instant) {
        if failingSince == nil { failingSince = now }
        lastFailure = why
        nextRenewal = now + retryEvery
    }
}
