import Foundation

/// The process's limit on open files, which caps how many agent connections one process (server or
/// simulator) can hold (each connection is a socket; the long-poll downlink needs a second one while
/// it polls).
public enum OpenFileLimit {
    /// The limits in force after raising.
    public struct Limits: Sendable, Equatable {
        public var soft: Int
        public var hard: Int
    }

    /// The limits in force now.
    public static func current() -> Limits {
        var limit = rlimit()
        guard getrlimit(resourceNoFile, &limit) == 0 else { return Limits(soft: 0, hard: 0) }
        return Limits(soft: clamp(limit.rlim_cur), hard: clamp(limit.rlim_max))
    }

    /// Raises the soft RLIMIT_NOFILE to the hard limit, and when that is still below `needed`,
    /// tries to raise both to `needed` (which only a privileged process may). Returns the limits
    /// now in force.
    @discardableResult
    public static func raise(toAtLeast needed: Int) -> Limits {
        var limit = rlimit()
        guard getrlimit(resourceNoFile, &limit) == 0 else { return Limits(soft: 0, hard: 0) }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(resourceNoFile, &raised) == 0 { limit = raised }
        }
        if clamp(limit.rlim_cur) < needed {
            var raised = limit
            raised.rlim_cur = rlim_t(needed)
            raised.rlim_max = max(limit.rlim_max, rlim_t(needed))
            if setrlimit(resourceNoFile, &raised) == 0 { limit = raised }
        }
        return Limits(soft: clamp(limit.rlim_cur), hard: clamp(limit.rlim_max))
    }

    /// Descriptors `agents` simulated agents need: a socket each, plus room for the process's own
    /// files, the long-poll downlink of a few, and reconnects overlapping old sockets.
    public static func needed(agents: Int) -> Int {
        agents + agents / 20 + 256
    }

    #if canImport(Glibc)
    private static let resourceNoFile = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    #else
    private static let resourceNoFile = RLIMIT_NOFILE
    #endif

    private static func clamp(_ value: rlim_t) -> Int {
        value > rlim_t(Int.max) ? Int.max : Int(value)
    }
}
