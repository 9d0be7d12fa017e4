import Foundation
import RMMProtocol
import Synchronization

/// Where one connection's routine heartbeats land on the event loop, for the session to fold in
/// when it next looks at the agent's liveness (`AgentSession.absorbHeartbeats`).
///
/// An idle agent's heartbeat only refreshes a few values: when it was last seen, its downlink proof,
/// its metrics and its heartbeat id. Taking it here costs a lock; handing it to the session cost a
/// task, a thread wake-up and an actor hop per heartbeat (with decoding, the largest costs of an
/// idle fleet). A heartbeat that could change anything else is let through to the session as before:
/// one that acknowledges server messages the session has not seen acknowledged, or any heartbeat
/// before the downlink of this connection is proven (the proof must reach the session at once).
final class HeartbeatMailbox: Sendable {
    /// What heartbeats taken since the session last looked said; the newest wins.
    struct Pending: Sendable {
        var lastSeenAt: Date
        /// When a taken heartbeat last proved the downlink (its echo was of this connection).
        var provenAt: Date?
        var peerHeartbeatId: Int
        var metrics: HostMetrics?
    }

    private struct State {
        /// Published by the session: the highest server seq the agent has acknowledged.
        var acked = 0
        /// Published by the session: this connection's downlink is proven.
        var proven = false
        var pending: Pending?
    }

    /// The first heartbeat id the server sent on this connection: an echo at or above it is proof.
    private let firstHeartbeatId: Int
    private let state = Mutex(State())

    init(firstHeartbeatId: Int) {
        self.firstHeartbeatId = firstHeartbeatId
    }

    /// The link's sideline: takes a heartbeat whose whole effect can wait for the session.
    func take(_ envelope: Envelope) -> Bool {
        guard case .heartbeat(let heartbeat) = envelope.message else { return false }
        let now = Date()
        return state.withLock { state in
            guard state.proven, (envelope.ack ?? 0) <= state.acked else { return false }
            let proves = heartbeat.echo.map { $0 >= firstHeartbeatId } ?? false
            var pending = state.pending ?? Pending(lastSeenAt: now, peerHeartbeatId: heartbeat.id)
            pending.lastSeenAt = now
            pending.peerHeartbeatId = heartbeat.id
            if proves { pending.provenAt = now }
            if let metrics = heartbeat.metrics { pending.metrics = metrics }
            state.pending = pending
            return true
        }
    }

    /// The session says what it knows, so that `take` lets through what it has not seen.
    func publish(acked: Int, proven: Bool) {
        state.withLock {
            $0.acked = acked
            $0.proven = proven
        }
    }

    /// What was taken since the last call, if anything.
    func takePending() -> Pending? {
        state.withLock { state in
            defer { state.pending = nil }
            return state.pending
        }
    }
}
