import Foundation

/// An agent's status as operators see it. `online` requires downlink proof, not just uplink traffic.
public enum AgentStatus: String, Codable, Sendable {
    /// Connected, and the agent acknowledged a server data frame within the heartbeat deadline.
    case online
    /// Connected and heard from, but no server data frame acknowledged within the deadline.
    case degraded
    /// No connection.
    case offline
    /// Refused for good by an operator.
    case revoked
}
