import RMMProtocol

/// Where the agent's heartbeat gets its host health numbers.
public protocol HostMetricsSource: Sendable {
    /// A fresh snapshot; fields the platform cannot read are nil.
    func sample() async -> HostMetrics
}

/// The metrics source for the operating system this agent runs on.
public func currentHostMetricsSource() -> any HostMetricsSource {
    LinuxHostMetrics()
}
