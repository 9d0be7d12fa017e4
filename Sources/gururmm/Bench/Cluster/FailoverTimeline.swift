/// When a killed node's agents and their queued work came back, from observations made while
/// waiting: seconds since the kill at which each threshold was first seen crossed.
struct FailoverTimeline: Equatable {
    /// Agents the killed node held, and commands queued for them.
    let agents: Int
    let queued: Int
    var firstReconnected: Double?
    var allReconnected: Double?
    /// Every queued command received by its agent (first copies; sent before or after the kill).
    var allDelivered: Double?
    var firstDone: Double?
    var halfDone: Double?
    var allDone: Double?

    init(agents: Int, queued: Int) {
        self.agents = agents
        self.queued = queued
    }

    /// Records one observation at `seconds` after the kill.
    mutating func observe(at seconds: Double, reconnected: Int, delivered: Int, done: Int) {
        func mark(_ time: inout Double?, _ reached: Bool) { if time == nil && reached { time = seconds } }
        mark(&firstReconnected, reconnected > 0)
        mark(&allReconnected, reconnected >= agents)
        mark(&allDelivered, delivered >= queued)
        mark(&firstDone, done > 0)
        mark(&halfDone, done * 2 >= queued)
        mark(&allDone, done >= queued)
    }

    /// Everything is back: every agent reconnected and every queued command done.
    var isComplete: Bool { allReconnected != nil && allDone != nil }

    /// Seconds from the kill until both, the figure the target is about.
    var backAndDone: Double? {
        guard let allReconnected, let allDone else { return nil }
        return max(allReconnected, allDone)
    }
}
