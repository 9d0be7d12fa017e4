import RMMProtocol

/// How far a fan-out has got: each of its commands counted by the latest state seen.
struct FanOutCounts: Equatable, Sendable {
    /// Commands in the batch.
    var total: Int
    /// Commands the agent confirmed it holds (delivered, running, or ended after that).
    var delivered = 0
    /// Commands that ended, in any terminal state.
    var done = 0
    /// Ended failed, timed out, interrupted or rejected.
    var failed = 0
    var expired = 0
    var cancelled = 0

    /// The progress line: `812/1000 delivered · 640 done · 3 failed`, with expired and cancelled
    /// added when there are any.
    var line: String {
        var text = "\(delivered)/\(total) delivered · \(done) done · \(failed) failed"
        if expired > 0 { text += " · \(expired) expired" }
        if cancelled > 0 { text += " · \(cancelled) cancelled" }
        return text
    }
}

/// Counts a batch's commands from the states its events stream reports, in any order: a
/// command counts as delivered once seen in a state that needs the agent to hold it (so a
/// delivered command cancelled later stays delivered), and its first terminal state is final.
struct FanOutTally {
    private(set) var counts: FanOutCounts
    private var seen: [String: (delivered: Bool, ended: Bool)] = [:]

    init(total: Int) {
        counts = FanOutCounts(total: total)
    }

    mutating func record(command id: String, state: CommandState) {
        var entry = seen[id, default: (false, false)]
        guard !entry.ended else { return }
        if !entry.delivered && Self.reachedAgent(state) {
            entry.delivered = true
            counts.delivered += 1
        }
        if state.isTerminal {
            entry.ended = true
            counts.done += 1
            switch state {
            case .succeeded: break
            case .expired: counts.expired += 1
            case .cancelled: counts.cancelled += 1
            default: counts.failed += 1
            }
        }
        seen[id] = entry
        // A batch whose size was not known up front (or a stream naming more) still adds up.
        counts.total = max(counts.total, seen.count)
    }

    /// States an agent only reaches once it has the command.
    static func reachedAgent(_ state: CommandState) -> Bool {
        switch state {
        case .queued, .sent, .expired, .cancelled: return false
        case .delivered, .running, .succeeded, .failed, .timedOut, .interrupted, .rejected: return true
        }
    }
}
