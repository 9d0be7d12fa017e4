import Foundation
import RMMProtocol

/// What a session times on its connection, as pure state: the inbound deadline, heartbeats, pings
/// and the liveness flush. `wake` says which of them are due at `now` (and counts them done);
/// `nextDue` says when the session must next be woken, given the other machines' deadlines.
struct SessionSchedule: Sendable {
    /// The periods the schedule keeps: the agent's config and the server's flush interval.
    struct Timing: Sendable, Equatable {
        var heartbeatInterval: Double
        var pingInterval: Double
        /// No data frame from the agent for this long closes the connection.
        var heartbeatDeadline: Double
        var livenessFlushInterval: Double

        init(heartbeatInterval: Double, pingInterval: Double, heartbeatDeadline: Double, livenessFlushInterval: Double) {
            self.heartbeatInterval = heartbeatInterval
            self.pingInterval = pingInterval
            self.heartbeatDeadline = heartbeatDeadline
            self.livenessFlushInterval = livenessFlushInterval
        }

        init(_ config: AgentConfig, livenessFlushInterval: Double) {
            self.init(heartbeatInterval: config.heartbeatInterval, pingInterval: config.pingInterval,
                      heartbeatDeadline: config.heartbeatDeadline, livenessFlushInterval: livenessFlushInterval)
        }
    }

    /// What the session does at a wake, in this order.
    enum Action: Equatable {
        /// Nothing came from the agent for the deadline: close the connection (and do nothing else on it).
        case closeForDeadline(seconds: Int)
        /// Send a WebSocket ping; `flush` false when a heartbeat follows whose flush carries it.
        case ping(flush: Bool)
        /// Send a heartbeat (it carries any owed ack).
        case sendHeartbeat
        /// Hand the liveness to the store (the ticker writes many sessions' together).
        case flushLiveness
    }

    /// When the current connection started; nil while the agent is not connected.
    private(set) var connectedAt: Date?
    private(set) var lastHeartbeatSent = Date.distantPast
    private(set) var lastPingSent = Date.distantPast
    private(set) var lastFlush = Date.distantPast

    init() {}

    /// A connection started at `now` (its welcome and first ping went out then).
    mutating func connected(now: Date) {
        connectedAt = now
        lastHeartbeatSent = now
        lastPingSent = now
    }

    /// The connection ended: nothing is timed on it any more.
    mutating func disconnected() {
        connectedAt = nil
    }

    /// The liveness was written at `now` outside a wake (at a detach).
    mutating func flushed(now: Date) {
        lastFlush = now
    }

    /// The duties due at `now`. `lastDataIn` is when the agent's last data frame arrived (nil:
    /// none on this connection yet), `ackOwed` that the agent is owed an ack (a heartbeat carries
    /// it at once), `pollDownlink` that the link has no flush of its own to share with a ping.
    mutating func wake(now: Date, lastDataIn: Date?, ackOwed: Bool, pollDownlink: Bool, timing: Timing) -> [Action] {
        var actions: [Action] = []
        if let connectedAt {
            let lastIn = lastDataIn ?? connectedAt
            if now.timeIntervalSince(lastIn) > timing.heartbeatDeadline {
                actions.append(.closeForDeadline(seconds: Int(timing.heartbeatDeadline)))
            } else {
                let heartbeatDue = now.timeIntervalSince(lastHeartbeatSent) >= timing.heartbeatInterval || ackOwed
                if now.timeIntervalSince(lastPingSent) >= timing.pingInterval {
                    // Due with a heartbeat: the heartbeat's flush carries the ping, one syscall
                    // instead of two.
                    actions.append(.ping(flush: !(heartbeatDue && !pollDownlink)))
                    lastPingSent = now
                }
                if heartbeatDue {
                    actions.append(.sendHeartbeat)
                    lastHeartbeatSent = now
                }
            }
        }
        if now.timeIntervalSince(lastFlush) >= timing.livenessFlushInterval {
            lastFlush = now
            actions.append(.flushLiveness)
        }
        return actions
    }

    /// When the session next has a duty; nil without a connection (it leaves the clock then, and
    /// a connect files it again). `immediate` (an owed ack, items the pump could not send) means
    /// `now`: the next tick. `others` are the other machines' deadlines (retransmission, diagnosis).
    /// Inbound data moves `lastDataIn` without the session hearing of it: the wake at this
    /// deadline reads it again and files the next one.
    /// `lastDataIn` and `others` are read only when needed (a fan-out ends thousands of pumps with
    /// work still immediate).
    func nextDue(now: Date, lastDataIn: @autoclosure () -> Date?, immediate: Bool, timing: Timing,
                 others: @autoclosure () -> [Date?] = []) -> Date? {
        guard let connectedAt else { return nil }
        if immediate { return now }
        let lastIn = lastDataIn() ?? connectedAt
        var due = min(
            lastHeartbeatSent.addingTimeInterval(timing.heartbeatInterval),
            lastPingSent.addingTimeInterval(timing.pingInterval),
            lastIn.addingTimeInterval(timing.heartbeatDeadline),
            lastFlush.addingTimeInterval(timing.livenessFlushInterval)
        )
        for case let other? in others() { due = min(due, other) }
        return due
    }
}
