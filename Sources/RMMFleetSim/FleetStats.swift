import Foundation

/// A snapshot of the simulated fleet: where its agents are now, and counts since it started.
public struct FleetStats: Sendable, Codable, Equatable {
    /// Agents in the fleet.
    public var agents = 0
    /// Agents waiting for a connect slot (bounded parallel connects).
    public var waiting = 0
    /// Agents connecting: TCP, TLS, upgrade, challenge, hello or enroll, until the welcome.
    public var connecting = 0
    /// Agents with a welcomed connection now.
    public var connected = 0
    /// Connected agents that sent the heartbeat echo that proves the downlink to the server
    /// (what makes the server show them `online`).
    public var downlinkProven = 0
    /// Agents sleeping before their next connect attempt.
    public var backingOff = 0
    /// Agents that stopped for good (refused with 4001/4006, not enrolled without a token, wrong server key).
    public var stopped = 0

    /// Connect attempts, and those that failed before a welcome.
    public var connectAttempts = 0
    public var connectFailures = 0
    /// Welcomes received (sessions started), of which enrollments of new agents.
    public var welcomes = 0
    public var enrolled = 0
    /// Sessions that ended after a welcome (each is followed by a reconnect unless stopped).
    public var reconnects = 0
    /// Commands received (first copies), results sent for them, and `rejected` results among those.
    public var commandsReceived = 0
    public var resultsSent = 0
    public var rejected = 0
    /// Reliable messages received again (seq already handled) and commands acked `duplicate: true`.
    public var duplicates = 0
    public var cancelsReceived = 0
    public var configsApplied = 0
    /// Heartbeats sent.
    public var heartbeatsSent = 0
    /// Why connections ended, by close code, most frequent first.
    public var closeReasons: [CloseTally] = []
    /// Resident memory of this process, bytes (Linux; 0 elsewhere).
    public var residentBytes = 0
    /// Seconds since the simulator was created.
    public var uptimeSeconds = 0.0

    public init() {}

    /// How often connections ended with one close code, and the last reason given with it.
    public struct CloseTally: Sendable, Codable, Equatable {
        /// `4002`, or `none` for a connection that ended without a close frame, or `connect` for
        /// an attempt that failed before the WebSocket was up.
        public var code: String
        public var count: Int
        public var lastReason: String
    }

    /// One line for a terminal.
    public var line: String {
        var parts = [
            "\(connected)/\(agents) connected (\(downlinkProven) downlink proven)",
            "\(connecting) connecting, \(waiting) waiting, \(backingOff) backing off" + (stopped > 0 ? ", \(stopped) stopped" : ""),
            "commands \(commandsReceived) received, \(resultsSent) results" + (duplicates > 0 ? ", \(duplicates) duplicates" : ""),
            "connects \(connectAttempts) (\(connectFailures) failed), \(enrolled) enrolled, \(reconnects) reconnects",
        ]
        if residentBytes > 0 { parts.append("rss \(residentBytes >> 20) MiB") }
        if let top = closeReasons.first { parts.append("closes: " + closeReasons.prefix(3).map { "\($0.code)×\($0.count)" }.joined(separator: " ") + " (last \(top.code): \(top.lastReason.prefix(60)))") }
        return parts.joined(separator: " | ")
    }
}
