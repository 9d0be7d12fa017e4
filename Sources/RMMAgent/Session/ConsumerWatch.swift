import Foundation

/// How long the agent's message consumer has sat on waiting messages, from the link's counters
/// (received by the transport, handled by the consumer). Pure state of the reporter/watchdog,
/// looked at whenever the consumer takes or finishes a message and at the deadlines it names.
struct ConsumerWatch: Sendable, Equatable {
    private var lastHandled = 0
    /// Since when messages have waited with `handled` unchanged; nil when none waits.
    private(set) var pendingSince: Date?
    /// The current stall has been reported (said once per stall).
    var reportedStall = false

    /// Takes the counters at `now`; returns the seconds the consumer has been stuck (0: it is not).
    mutating func observe(received: Int, handled: Int, now: Date) -> Double {
        guard received > handled else {
            pendingSince = nil
            lastHandled = handled
            reportedStall = false
            return 0
        }
        if pendingSince == nil || handled != lastHandled {
            pendingSince = now
            lastHandled = handled
            reportedStall = false
        }
        return pendingSince.map { now.timeIntervalSince($0) } ?? 0
    }

    /// When the stall would next need saying (its report, then the watchdog); nil when none waits.
    func nextCheck(reportAfter: Double, watchdogSeconds: Double) -> Date? {
        guard let pendingSince else { return nil }
        return pendingSince.addingTimeInterval(reportedStall ? watchdogSeconds : min(reportAfter, watchdogSeconds))
    }
}
