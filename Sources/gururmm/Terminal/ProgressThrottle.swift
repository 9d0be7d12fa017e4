/// Decides what a line redrawn in place shows and when: at most once per `interval`, only when
/// its text changed, and never again once finished. Pure: the caller passes the time and writes
/// the bytes.
struct ProgressThrottle {
    /// At most ten draws a second: faster is unreadable and costs terminal output at scale.
    static let interval = Duration.milliseconds(100)
    private var latest: String?
    /// The text on the terminal now, nil when nothing is drawn.
    private(set) var shown: String?
    private var drawnAt: ContinuousClock.Instant?
    private var finished = false

    /// The newest text to show.
    mutating func update(_ text: String) {
        latest = text
    }

    /// The text to draw now (replacing the one shown), or nil: unchanged, too soon, or finished.
    mutating func draw(now: ContinuousClock.Instant) -> String? {
        guard !finished, let latest, latest != shown else { return nil }
        if let drawnAt, now - drawnAt < Self.interval { return nil }
        shown = latest
        drawnAt = now
        return latest
    }

    /// Ends drawing for good; true when a line is shown and must be erased.
    mutating func finish() -> Bool {
        finished = true
        defer { shown = nil }
        return shown != nil
    }
}
