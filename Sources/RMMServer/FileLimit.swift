import Foundation

#if canImport(Glibc)
private let fileResource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
#else
private let fileResource = RLIMIT_NOFILE
#endif

/// The process's open-file limit: every agent connection is a file descriptor, so a server for
/// thousands of agents needs far more than the usual default soft limit of 1024.
public enum FileLimit {
    /// What raising the limit achieved, in words for the operator.
    public struct Outcome: Sendable, CustomStringConvertible {
        public var before: UInt64
        public var after: UInt64
        public var hard: UInt64
        public var error: String?

        /// Roughly how many agent connections fit (descriptors left after the database, listeners and logs).
        public var agentCapacity: UInt64 { after > 64 ? after - 64 : 0 }

        public var description: String {
            if let error {
                return "could not raise the open-file limit (soft \(before), hard \(hard)): \(error); about \(agentCapacity) agents can connect — raise it with `ulimit -n` or LimitNOFILE= in the service unit"
            }
            if after == before {
                return "open-file limit \(after) (the hard limit): about \(agentCapacity) agents can connect"
            }
            return "open-file limit raised from \(before) to \(after): about \(agentCapacity) agents can connect"
        }
    }

    /// Raises the soft RLIMIT_NOFILE to `ceiling` (with the hard limit, where the process may, as
    /// root can), else to the hard limit.
    public static func raise(ceiling: UInt64 = 1 << 20) -> Outcome {
        var limit = rlimit()
        guard getrlimit(fileResource, &limit) == 0 else {
            return Outcome(before: 0, after: 0, hard: 0, error: String(cString: strerror(errno)))
        }
        let before = UInt64(limit.rlim_cur)
        let hard = UInt64(limit.rlim_max)
        if hard < ceiling {
            var wanted = limit
            wanted.rlim_cur = rlim_t(ceiling)
            wanted.rlim_max = rlim_t(ceiling)
            if setrlimit(fileResource, &wanted) == 0 { return Outcome(before: before, after: ceiling, hard: ceiling, error: nil) }
        }
        let target = min(hard, ceiling)
        guard target > before else { return Outcome(before: before, after: before, hard: hard, error: nil) }
        limit.rlim_cur = rlim_t(target)
        guard setrlimit(fileResource, &limit) == 0 else {
            return Outcome(before: before, after: before, hard: hard, error: String(cString: strerror(errno)))
        }
        return Outcome(before: before, after: target, hard: hard, error: nil)
    }
}
