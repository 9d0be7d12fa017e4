import Foundation

extension CommandOutcome {
    /// The outcome with each output stream cut to its first `cap` bytes, and a stream that was cut
    /// marked truncated: the server holds an agent's final result to the same output cap as its
    /// streamed output, whatever the agent claims. A negative cap counts as 0.
    public func capped(at cap: Int) -> CommandOutcome {
        let limit = max(0, cap)
        var out = self
        if stdout.count > limit {
            out.stdout = Data(stdout.prefix(limit))
            out.stdoutTruncated = true
        }
        if stderr.count > limit {
            out.stderr = Data(stderr.prefix(limit))
            out.stderrTruncated = true
        }
        return out
    }
}
