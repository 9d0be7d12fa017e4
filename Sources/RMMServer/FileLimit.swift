import RMMTransport

/// The server's open-file limit: every agent connection is a file descriptor, so a server for
/// thousands of agents needs far more than the usual default soft limit of 1024.
public enum FileLimit {
    /// What raising the limit achieved, in words for the operator.
    public struct Outcome: Sendable, CustomStringConvertible {
        public var before: Int
        public var after: Int
        public var hard: Int
        /// Set when the limit stayed below what was asked for.
        public var error: String?

        /// Roughly how many agent connections fit (descriptors left after the database, listeners and logs).
        public var agentCapacity: UInt64 { after > 64 ? UInt64(after - 64) : 0 }

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
    public static func raise(ceiling: Int = 1 << 20) -> Outcome {
        let before = OpenFileLimit.current()
        guard before.hard > 0 else {
            return Outcome(before: 0, after: 0, hard: 0, error: "getrlimit failed")
        }
        let after = OpenFileLimit.raise(toAtLeast: ceiling)
        return Outcome(before: before.soft, after: after.soft, hard: after.hard, error: nil)
    }
}
