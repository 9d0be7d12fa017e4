/// Delays between reconnect attempts: exponential with full jitter, so a fleet that lost its server
/// at the same moment does not come back in lockstep. Shared by the agent and the fleet simulator.
///
/// Each delay is drawn from `minimum` up to a ceiling of 2, 4, 8, … times `minimum` (at most
/// `maximum`): already the first (and the first after a reset) is drawn from a range, since a
/// node that dies drops all its agents in the same millisecond, and without jitter on the first
/// attempt they would all knock on the next node at the same instant.
public struct ReconnectBackoff: Sendable {
    public let minimum: Double
    public let maximum: Double
    private var ceiling: Double

    public init(minimum: Double, maximum: Double) {
        self.minimum = max(0, minimum)
        self.maximum = max(self.minimum, maximum)
        ceiling = min(self.maximum, self.minimum * 2)
    }

    /// Starts over from the minimum (after a connection that worked).
    public mutating func reset() {
        ceiling = min(maximum, minimum * 2)
    }

    /// The next delay in seconds: uniform in minimum...ceiling; the ceiling then doubles up to the maximum.
    public mutating func nextDelay() -> Double {
        var generator = SystemRandomNumberGenerator()
        return nextDelay(using: &generator)
    }

    /// The same with the jitter drawn from `generator`.
    public mutating func nextDelay(using generator: inout some RandomNumberGenerator) -> Double {
        let delay = Double.random(in: minimum...max(minimum, ceiling), using: &generator)
        ceiling = min(maximum, ceiling * 2)
        return delay
    }
}
