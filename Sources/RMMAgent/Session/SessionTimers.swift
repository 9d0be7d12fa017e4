import Foundation
import RMMProtocol

/// When a connected agent owes the server a heartbeat (with metrics, when they are due) or a ping,
/// and when it must give up on the connection because no data frame arrived. Pure state, shared by
/// `AgentCore` and the fleet simulator so both keep the same rhythm on the wire.
public struct SessionTimers: Sendable {
    public private(set) var connectedAt: Date
    private var lastHeartbeatSent = Date.distantPast
    private var lastMetricsSent = Date.distantPast
    private var lastPingSent = Date.distantPast

    /// What a tick owes.
    public enum Due: Sendable, Equatable {
        /// No data frame for the deadline: close with 4004 (`reason`) and reconnect. `controlAlive`:
        /// control frames still arrive, so the path filters data.
        case expired(controlAlive: Bool, reason: String)
        /// Send a heartbeat (with host metrics when `metrics`), and/or a ping.
        case duties(heartbeat: Bool, metrics: Bool, ping: Bool)
    }

    /// A connection was welcomed at `now`; a ping goes out with the welcome's answer.
    public init(connectedAt now: Date) {
        connectedAt = now
        lastPingSent = now
    }

    /// When a tick next has something to do: a heartbeat or a ping falls due, or the data deadline
    /// passes (unless data arrives first). Lets a caller visit only when needed.
    public func nextDue(counters: LinkCounters, config: AgentConfig) -> Date {
        let lastIn = counters.lastDataIn.map { Date(timeIntervalSince1970: $0) } ?? connectedAt
        var next = min(
            lastHeartbeatSent.addingTimeInterval(config.heartbeatInterval),
            lastPingSent.addingTimeInterval(config.pingInterval),
            lastIn.addingTimeInterval(config.heartbeatDeadline + 0.001)
        )
        if let probeAt = quietProbeDue(lastIn: lastIn, config: config) { next = min(next, probeAt) }
        return next
    }

    /// When the quiet-link ping falls due, or nil if a ping already went out since then.
    private func quietProbeDue(lastIn: Date, config: AgentConfig) -> Date? {
        let at = lastIn.addingTimeInterval(Self.quietProbeAfter(config))
        return lastPingSent < at ? at : nil
    }

    /// Seconds without a data frame after which a ping goes out at once, whatever the ping
    /// interval: a healthy link brings a server heartbeat every interval, so by then something is
    /// wrong, and its pong (or none) is what tells a path that filters data (control frames still
    /// pass) from a dead one — before the deadline and the quiet-downlink report need to know.
    /// With pings once a minute, waiting for the routine one could miss that window.
    public static func quietProbeAfter(_ config: AgentConfig) -> Double {
        1.5 * config.heartbeatInterval
    }

    /// What a tick writes on the link.
    public struct Writes: Sendable, Equatable {
        /// A heartbeat (carrying the cumulative ack), with host metrics when `metrics`.
        public var heartbeat: Bool
        public var metrics: Bool
        /// A ping, flushed at once (`flushPing`) or riding the heartbeat's flush.
        public var ping: Bool
        public var flushPing: Bool
    }

    /// Turns a tick's duties into writes, for the agent and the fleet simulator alike: a heartbeat
    /// also when an ack is owed; a ping due with a heartbeat rides the heartbeat's flush (one
    /// segment, so the server reads both at once), except when the downlink is polled.
    public static func writes(heartbeat: Bool, metrics: Bool, ping: Bool, ackOwed: Bool, sendMode: DownlinkMode) -> Writes {
        let beat = heartbeat || ackOwed
        return Writes(heartbeat: beat, metrics: metrics, ping: ping, flushPing: !(beat && sendMode != .poll))
    }

    /// Decides this tick's duties and records them as done.
    public mutating func tick(now: Date, counters: LinkCounters, config: AgentConfig) -> Due {
        let lastIn = counters.lastDataIn.map { Date(timeIntervalSince1970: $0) } ?? connectedAt
        if now.timeIntervalSince(lastIn) > config.heartbeatDeadline {
            // Control frames still arriving while data frames do not is the dossier's failure:
            // the path filters data.
            let lastControl = counters.lastControlIn.map { Date(timeIntervalSince1970: $0) } ?? .distantPast
            let controlAlive = now.timeIntervalSince(lastControl) <= config.heartbeatDeadline
            let reason = "no data frame from server for \(Int(config.heartbeatDeadline)) s" + (controlAlive ? " while control frames arrive" : "")
            return .expired(controlAlive: controlAlive, reason: reason)
        }
        let heartbeat = now.timeIntervalSince(lastHeartbeatSent) >= config.heartbeatInterval
        var metrics = false
        if heartbeat {
            lastHeartbeatSent = now
            metrics = now.timeIntervalSince(lastMetricsSent) >= config.effectiveMetricsInterval
            if metrics { lastMetricsSent = now }
        }
        let quietProbe = quietProbeDue(lastIn: lastIn, config: config).map { now >= $0 } ?? false
        let ping = now.timeIntervalSince(lastPingSent) >= config.pingInterval || quietProbe
        if ping { lastPingSent = now }
        return .duties(heartbeat: heartbeat, metrics: metrics, ping: ping)
    }
}
