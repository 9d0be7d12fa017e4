import Foundation
import RMMAPI
import RMMProtocol

/// Live facts about an agent's current session, merged with its stored record for display.
public struct SessionSnapshot: Sendable, Equatable {
    public var connected: Bool
    public var epoch: Int?
    public var connectedSince: Date?
    public var lastSeenAt: Date?
    public var lastDownlinkAt: Date?
    public var disconnectedAt: Date?
    public var configVersionApplied: Int?
    public var lastPongRttMs: Double?
    public var pendingOutbound: Int
    public var remoteAddress: String?
    public var lastCloseReason: String?
    public var metrics: HostMetrics?
    public var downlinkMode: DownlinkMode?

    /// Applies the rule in docs/architecture.md ("Liveness"): online means the downlink is proven within the deadline.
    public func status(now: Date, deadline: Double) -> AgentStatus {
        guard connected else { return .offline }
        if let proof = lastDownlinkAt, now.timeIntervalSince(proof) <= deadline { return .online }
        return .degraded
    }
}
