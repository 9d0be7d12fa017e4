import RMMProtocol

/// How long one call to PostgreSQL may take, pure (`PostgresStore.bounded` runs the clock): a
/// pooled call first waits for a connection, then for the database's answers on it, and each wait
/// has its own limit. Past either the caller is told `unavailable` at once, whether or not the
/// awaited driver call ever ends (one made as PostgreSQL stops may not, and cancelling it does not
/// necessarily end it).
struct PostgresCallDeadline: Sendable {
    /// The limits of every call of a store (tests shorten them).
    struct Limits: Sendable, Equatable {
        /// For the database's answers once the call holds a connection: from its first statement
        /// (a write's BEGIN) to its last answer (a write's COMMIT).
        var answer: Duration
        /// For a pooled connection, while the call waits in the pool's queue.
        var connection: Duration
        /// How often a call still waiting for a connection looks whether the database was found
        /// away meanwhile (it then fails at once, as a call made now would).
        var recheck: Duration

        /// `answer`: the clock starts only once the call has its connection, so the pool's queue —
        /// this node's own backlog, thousands deep when 10,000 agents ack a fan-out or enroll at
        /// once — never counts against the database. Holding a connection, a call waits only for
        /// PostgreSQL, but that includes row locks: on a loaded node a fan-out's insert of 10,000
        /// commands was seen waiting more than 10 s for the agents' rows behind the fan-out before
        /// it. 30 s stays inside the 45 s an agent waits for a data frame before it gives a
        /// connection up (`AgentConfig.heartbeatDeadline`), so a session held by such a call
        /// recovers before its agent reconnects; PostgreSQL ends a blocked statement itself first
        /// (`statementTimeout`). (The node lease's renewal, on an idle connection of its own, counts
        /// 3 s of silence as an outage already.)
        ///
        /// `connection`: the pool itself fails its queue once it could not connect for 60 s (its
        /// circuit breaker), and a database found away fails queued calls within `recheck`; this
        /// is only the bound for a pool that neither answers nor fails, about twice the longest queue
        /// a 10,000-agent wave was seen to build.
        static let standard = Limits(answer: .seconds(30), connection: .seconds(120), recheck: .seconds(1))

        /// What PostgreSQL lets one statement of a pooled connection run (`statement_timeout`),
        /// below `answer`, so a statement merely blocked ends by itself, rolled back, before the
        /// call walks away from it.
        var statementTimeout: Duration = .seconds(25)
    }

    /// How the call ended at its deadline.
    enum Verdict: Sendable, Equatable {
        /// No pooled connection came in time: nothing was sent, nothing done.
        case noConnection(String)
        /// The database was found away while the call waited for a connection: nothing done.
        case awayWhileQueued
        /// The database did not answer in time. What the call sent may still take effect: a
        /// COMMIT the database received but did not acknowledge commits all the same.
        case unanswered(String)
    }

    let limits: Limits
    let startedAt: ContinuousClock.Instant
    /// When the call got its connection (for a call on a connection of its own: when it started).
    private(set) var connectedAt: ContinuousClock.Instant?
    /// Given once; a connection that comes after it must not be used.
    private(set) var verdict: Verdict?

    /// A pooled call started at `now`.
    init(limits: Limits, startedAt: ContinuousClock.Instant) {
        self.limits = limits
        self.startedAt = startedAt
    }

    /// A call on a connection of its own (no queue): only the answer's limit applies, from `now`.
    static func answering(limits: Limits, from now: ContinuousClock.Instant) -> PostgresCallDeadline {
        var deadline = PostgresCallDeadline(limits: limits, startedAt: now)
        deadline.connectedAt = now
        return deadline
    }

    /// The call got its connection at `now`: false if the verdict came first (it must not start).
    mutating func connected(at now: ContinuousClock.Instant) -> Bool {
        guard verdict == nil else { return false }
        connectedAt = connectedAt ?? now
        return true
    }

    /// The caller left (cancelled): a connection that comes later must not be used.
    mutating func abandon() {
        if verdict == nil, connectedAt == nil { verdict = .awayWhileQueued }
    }

    /// At `now`, with the database `away` or not as the store last found it: when to look again,
    /// or the verdict.
    mutating func check(now: ContinuousClock.Instant, databaseAway away: Bool) -> DeadlineCheck<Verdict> {
        if let verdict { return .late(verdict) }
        if let connectedAt {
            let due = connectedAt + limits.answer
            guard now >= due else { return .lookAgain(at: due) }
            return give(.unanswered("PostgreSQL did not answer within \(Self.seconds(limits.answer)) s"))
        }
        if away { return give(.awayWhileQueued) }
        let due = startedAt + limits.connection
        guard now >= due else { return .lookAgain(at: min(due, now + limits.recheck)) }
        return give(.noConnection("no connection to PostgreSQL came within \(Self.seconds(limits.connection)) s"))
    }

    private mutating func give(_ verdict: Verdict) -> DeadlineCheck<Verdict> {
        self.verdict = verdict
        return .late(verdict)
    }

    /// `duration` in seconds for a reason: whole seconds as such, shorter ones (tests) in tenths.
    static func seconds(_ duration: Duration) -> String {
        let (whole, fraction) = duration.components
        if fraction == 0 { return "\(whole)" }
        let tenths = (Double(whole) + Double(fraction) / 1e18) * 10
        return "\(tenths.rounded() / 10)"
    }
}
