import NIOCore
import Synchronization

/// Thread-safe book of the proxy's connections, so mode changes and shutdown reach every open socket.
final class ConnectionRegistry: Sendable {
    /// Which socket of a proxied connection.
    enum Side: Sendable {
        case downstream
        case upstream
    }

    private struct Entry {
        var downstream: any Channel
        var upstream: (any Channel)?
        /// This connection's own mode, so one connection can be broken while new ones pass.
        var modeSwitch: FaultModeSwitch
        var downstreamOpen = true
        /// True while the upstream is connecting or connected.
        var upstreamOpen = true
    }

    private struct State {
        var entries: [Int: Entry] = [:]
        var nextID = 0
        var accepted = 0
    }

    private let state = Mutex(State())

    /// Records a newly accepted downstream socket and returns the connection's id.
    func register(downstream: any Channel, modeSwitch: FaultModeSwitch) -> Int {
        state.withLock { state in
            let id = state.nextID
            state.nextID += 1
            state.accepted += 1
            state.entries[id] = Entry(downstream: downstream, modeSwitch: modeSwitch)
            return id
        }
    }

    /// Records the upstream socket once it is connected.
    func attach(upstream: any Channel, to id: Int) {
        state.withLock { $0.entries[id]?.upstream = upstream }
    }

    /// Marks one socket closed; the connection is forgotten when both are.
    func markClosed(_ side: Side, of id: Int) {
        state.withLock { state in
            guard var entry = state.entries[id] else { return }
            switch side {
            case .downstream: entry.downstreamOpen = false
            case .upstream: entry.upstreamOpen = false
            }
            if entry.downstreamOpen || entry.upstreamOpen {
                state.entries[id] = entry
            } else {
                state.entries[id] = nil
            }
        }
    }

    /// Connections with at least one socket still open.
    var openCount: Int {
        state.withLock { $0.entries.count }
    }

    /// Connections accepted since the proxy started.
    var acceptedCount: Int {
        state.withLock { $0.accepted }
    }

    /// The mode switches of every connection still tracked.
    var modeSwitches: [FaultModeSwitch] {
        state.withLock { $0.entries.values.map(\.modeSwitch) }
    }

    /// Every socket of every connection still tracked.
    var channels: [any Channel] {
        state.withLock { state in
            state.entries.values.flatMap { entry in [entry.downstream] + (entry.upstream.map { [$0] } ?? []) }
        }
    }
}
