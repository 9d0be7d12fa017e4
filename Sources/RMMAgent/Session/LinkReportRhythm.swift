import Foundation
import RMMProtocol

/// When an agent sends its link report: at once on connect, on a new decode error and when data
/// frames stop while control frames still arrive; otherwise a routine report every few minutes.
///
/// The reports the server's diagnosis acts on are the immediate ones (H2, H4, the quiet downlink);
/// a routine report only refreshes the counters it shows. It used to go every two heartbeats, and
/// decoding it was the largest single cost of an idle fleet on the server (15% of its CPU at
/// 10,000 agents), so it now goes every eight, jittered so a fleet that reconnected together does
/// not report together. The routine report follows the current heartbeat interval: a config that
/// shortens it brings the next report nearer at once. Shared by the real agent's reporter and the
/// fleet simulator, which both sleep until `nextCheck`.
public struct LinkReportRhythm: Sendable {
    /// Heartbeat intervals between routine reports (at most; each is jittered shorter).
    public static let routineHeartbeats = 8.0

    /// When the last report went (or the rhythm started), and the jittered share of a routine
    /// interval after it that the next routine report waits (0: due at once).
    private var routineFrom: Date
    private var routineShare = 0.0
    private var reportedDecodeErrors = 0
    private var reportedQuiet = false
    /// Time of the newest agent finding already reported.
    private var reportedFindingTime = 0.0

    /// The first report is due at once.
    public init(now: Date) {
        routineFrom = now
    }

    /// Seconds without a data frame, while control frames arrive, after which the downlink is quiet.
    public static func quietAfter(heartbeatInterval: Double) -> Double {
        max(2, 2 * heartbeatInterval)
    }

    /// Longest time between two routine reports.
    public static func routineInterval(heartbeatInterval: Double) -> Double {
        max(2, routineHeartbeats * heartbeatInterval)
    }

    /// When the next routine report is due under the current heartbeat interval.
    public func nextRoutine(heartbeatInterval: Double) -> Date {
        routineFrom.addingTimeInterval(routineShare * Self.routineInterval(heartbeatInterval: heartbeatInterval))
    }

    /// Whether a report is due now. Notes the quiet downlink in `policy` the first time it is seen.
    public mutating func due(counters: LinkCounters, heartbeatInterval: Double, now: Date, policy: LinkPolicy) -> Bool {
        let quietAfter = Self.quietAfter(heartbeatInterval: heartbeatInterval)
        let nowSeconds = now.timeIntervalSince1970
        let dataAge = nowSeconds - (counters.lastDataIn ?? nowSeconds)
        let controlAge = nowSeconds - (counters.lastControlIn ?? 0)
        var due = now >= nextRoutine(heartbeatInterval: heartbeatInterval) || counters.decodeErrors > reportedDecodeErrors
        if dataAge >= quietAfter && controlAge < quietAfter {
            if !reportedQuiet {
                // Said at once, over the uplink, before the deadline makes the agent reconnect.
                reportedQuiet = true
                policy.note("downlink-quiet: no data frame for \(Int(dataAge)) s while control frames arrive")
                policy.find(.downlinkQuiet, detail: "no data frame for \(Int(dataAge)) s while control frames arrive", now: now)
                due = true
            }
        } else {
            reportedQuiet = false
        }
        // A new finding (a refused forgery, say) goes out at once too.
        if let newest = policy.newestFindingTime, newest > reportedFindingTime {
            reportedFindingTime = newest
            due = true
        }
        return due
    }

    /// Records a report sent now (for whatever reason): the next routine one is a jittered interval away.
    public mutating func sent(counters: LinkCounters, heartbeatInterval: Double, now: Date) {
        reportedDecodeErrors = counters.decodeErrors
        routineFrom = now
        routineShare = Double.random(in: 0.8...1)
    }

    /// Seconds between looks while data frames are quiet and that is not said yet: whether control
    /// frames still arrive (a pong) is seen only by looking.
    public static let quietRecheck = 0.25

    /// The next instant `due` could say yes without new input, for a caller that sleeps until then
    /// (the agent's reporter, the fleet simulator's sweep): the routine report, or the moment data
    /// frames would have been quiet long enough. Never in the past unless a routine report is due
    /// (then `now`), so it cannot spin: while data frames are quiet and not yet reported it looks
    /// again every `quietRecheck`; once reported, only the routine report is left. Computed from
    /// the current heartbeat interval, so a caller woken by a new config re-plans.
    public func nextCheck(counters: LinkCounters, heartbeatInterval: Double, now: Date) -> Date {
        let routine = nextRoutine(heartbeatInterval: heartbeatInterval)
        if routine <= now { return now }
        let quiet = counters.lastDataIn.map { Date(timeIntervalSince1970: $0 + Self.quietAfter(heartbeatInterval: heartbeatInterval)) } ?? .distantFuture
        guard quiet <= now else { return min(routine, quiet) }
        return reportedQuiet ? routine : min(routine, now.addingTimeInterval(Self.quietRecheck))
    }
}
