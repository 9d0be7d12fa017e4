/// How often a node may tell the others that its commands changed (`ClusterFeedBridge`): a token
/// bucket, so a burst (a command round trip: insert, send, result) goes at once, while a
/// sustained stream (a fan-out's thousands of changes) is held to one signal per `interval`.
/// Each signal is a NOTIFY, a transaction (and a WAL flush) of its own on the shared database;
/// the default, 200 a second, halves what a busy node sent unpaced and stays above what command
/// round trips one after another need, so their cross-node latency is not paced.
struct SignalPacing {
    /// Signals that may go back to back after a quiet spell.
    let burst: Double
    /// One signal earned per interval.
    let interval: Duration
    private var tokens: Double
    private var last: ContinuousClock.Instant?

    init(burst: Int = 20, interval: Duration = .milliseconds(5)) {
        self.burst = Double(max(1, burst))
        self.interval = interval
        tokens = self.burst
    }

    /// How long to wait before one more signal at `now`; the signal counts as sent at the end of
    /// that wait.
    mutating func take(now: ContinuousClock.Instant) -> Duration {
        // Tokens are counted up to `last`, which a wait handed out may put in the future.
        let from = max(now, last ?? now)
        if let last, now > last { tokens = min(burst, tokens + (now - last) / interval) }
        if tokens >= 1 {
            tokens -= 1
            last = from
            return .zero
        }
        let ready = from + interval * (1 - tokens)
        tokens = 0
        last = ready
        return ready - now
    }
}
