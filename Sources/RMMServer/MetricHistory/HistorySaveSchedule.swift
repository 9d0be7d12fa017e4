import Foundation

/// When a session writes its agent's metric history to the store: at most once per `interval`,
/// only if a sample landed since the last write, the first write offset by an amount taken from
/// the agent id so that a node's agents reconnecting together (a restart) spread their writes
/// over the interval instead of landing in one tick.
struct HistorySaveSchedule: Sendable {
    /// Seconds between one agent's writes.
    static let interval: Double = 300

    private(set) var due: Date?
    private(set) var dirty = false
    private let offset: Double

    init(agentId: String) {
        // FNV-1a: stable across runs and processes, unlike `hashValue`.
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in agentId.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        offset = Double(hash % UInt64(Self.interval))
    }

    /// A sample landed at `now`.
    mutating func recorded(now: Date) {
        dirty = true
        if due == nil { due = now.addingTimeInterval(offset) }
    }

    /// Whether to write now; if so, the next write is an interval later. A due time more than an
    /// interval ahead means the clock went back: the write is due now rather than when the clock
    /// catches up.
    mutating func take(now: Date) -> Bool {
        guard dirty, let due, now >= due || due.timeIntervalSince(now) > Self.interval else { return false }
        dirty = false
        self.due = now.addingTimeInterval(Self.interval)
        return true
    }

    /// Whether to write now regardless of the interval (the connection ended): only if dirty.
    mutating func takeFinal(now: Date) -> Bool {
        guard dirty else { return false }
        dirty = false
        due = now.addingTimeInterval(Self.interval)
        return true
    }
}
