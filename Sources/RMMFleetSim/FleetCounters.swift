import Foundation
import Synchronization

/// Where an agent is, for the fleet's gauges.
enum SimPhase: Sendable, Equatable {
    case idle, waiting, connecting, connected, backingOff, stopped
}

/// The fleet's counters behind one lock: a few increments per agent event, and a snapshot that
/// can be read at any time from any thread.
final class FleetCounters: Sendable {
    private struct State {
        var stats = FleetStats()
        var closes: [String: FleetStats.CloseTally] = [:]
    }

    private let state: Mutex<State>

    init(agents: Int) {
        var stats = FleetStats()
        stats.agents = agents
        state = Mutex(State(stats: stats))
    }

    /// Changes counters; keep the body tiny (it runs under the lock).
    func update(_ body: (inout FleetStats) -> Void) {
        state.withLock { body(&$0.stats) }
    }

    /// Moves one agent between gauges.
    func move(from old: SimPhase, to new: SimPhase) {
        guard old != new else { return }
        state.withLock {
            Self.adjust(&$0.stats, old, by: -1)
            Self.adjust(&$0.stats, new, by: 1)
        }
    }

    private static func adjust(_ stats: inout FleetStats, _ phase: SimPhase, by delta: Int) {
        switch phase {
        case .idle: break
        case .waiting: stats.waiting += delta
        case .connecting: stats.connecting += delta
        case .connected: stats.connected += delta
        case .backingOff: stats.backingOff += delta
        case .stopped: stats.stopped += delta
        }
    }

    /// Counts one ended connection under its close code (`none`: no close frame; `connect`: the
    /// attempt failed before the WebSocket was up).
    func tallyClose(code: String, reason: String) {
        state.withLock { state in
            var tally = state.closes[code] ?? FleetStats.CloseTally(code: code, count: 0, lastReason: "")
            tally.count += 1
            tally.lastReason = String(reason.prefix(160))
            state.closes[code] = tally
        }
    }

    func snapshot() -> FleetStats {
        let (counted, closes) = state.withLock { ($0.stats, Array($0.closes.values)) }
        var stats = counted
        stats.closeReasons = closes.sorted { ($0.count, $1.code) > ($1.count, $0.code) }
        stats.residentBytes = ProcessMemory.residentBytes()
        return stats
    }
}

/// This process's resident memory.
enum ProcessMemory {
    /// Bytes resident now, from /proc/self/statm (0 where there is none).
    static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
