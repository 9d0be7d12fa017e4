/// Where a command is in its lifecycle; every value but the terminal ones can still change.
public enum CommandState: String, Codable, Sendable, CaseIterable {
    case queued, sent, delivered, running
    case succeeded, failed
    case timedOut = "timed_out"
    case cancelled, expired, interrupted, rejected

    /// A terminal state never changes again.
    public var isTerminal: Bool {
        switch self {
        case .queued, .sent, .delivered, .running: return false
        default: return true
        }
    }

    /// True while the agent has not yet confirmed it holds the command durably.
    public var isUndelivered: Bool { self == .queued || self == .sent }

    /// The lifecycle graph: the only moves the server will persist.
    ///
    /// `sent → queued` lets a command whose connection died wait for the next session. A command
    /// may skip `delivered`/`running` when a resumed session brings its ack and result together.
    public func canMove(to next: CommandState) -> Bool {
        switch self {
        case .queued: return next == .sent || next == .expired || next == .cancelled
        case .sent: return next == .sent || next == .queued || next == .delivered || next == .running || next.isTerminal
        case .delivered: return next == .running || (next.isTerminal && next != .expired)
        case .running: return next.isTerminal && next != .expired && next != .rejected
        default: return false
        }
    }
}
