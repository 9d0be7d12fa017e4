import Foundation
import RMMProtocol

/// When an agent sends its link report: at once on connect, on a new decode error and when data
/// frames stop while control frames still arrive; otherwise a routine report every few minutes.
///
/// The reports the server's diagnosis acts on are the immediate ones (H2, H4, the quiet downlink);
/// a routine report only refreshes the counters it shows. It used to go every two heartbeats, and
/// decoding it was the largest single cost of an idle fleet on the server (15% of its CPU at
/// 10,000 agents), so it now goes every eight, jittered so a fleet that reconnected together does
/// not report together. Shared by the real agent's reporter and the fleet simulator.
public struct LinkReportRhythm: Sendable {
    /// Heartbeat intervals between routine reports (at most; each is jittered shorter).
    public static let routineHeartbeats = 8.0

    private var nextRoutine: Date
    private var reportedDecodeErrors = 0
    private var reportedQuiet = false
    /// Time of the newest agent finding already reported.
    private var reportedFindingTime = 0.0

    /// The first report is due at once.
    public init(now: Date) {
        nextRoutine = now
    }

    /// Seconds without a data frame, while control frames arrive, after which the downlink is quiet.
    public static func quietAfter(heartbeatInterval: Double) -> Double {
        max(2, 2 * heartbeatInterval)
    }

    /// Longest time between two routine reports.
    public static func routineInterval(heartbeatInterval: Double) -> Double {
        max(2, routineHeartbeats * heartbeatInterval)
    }

    /// Whether a report is due now. Notes the quiet downlink in `policy` the first time it is seen.
    public mutating func due(counters: LinkCounters, heartbeatInterval: Double, now: Date, policy: LinkPolicy) -> Bool {
        let quietAfter = Self.quietAfter(heartbeatInterval: heartbeatInterval)
        let nowSeconds = now.timeIntervalSince1970
        let dataAge = nowSeconds - (counters.lastDataIn ?? nowSeconds)
        let controlAge = nowSeconds - (counters.lastControlIn ?? 0)
        var due = now >= nextRoutine || counters.decodeErrors > reportedDecodeErrors
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
        let interval = Self.routineInterval(heartbeatInterval: heartbeatInterval)
        nextRoutine = now.addingTimeInterval(interval * Double.random(in: 0.8...1))
    }

    /// The next instant `due` could say yes without new input: the routine report, or the moment
    /// data frames would have been quiet long enough.
    public func nextCheck(counters: LinkCounters, heartbeatInterval: Double) -> Date {
        let quiet = counters.lastDataIn.map { Date(timeIntervalSince1970: $0 + Self.quietAfter(heartbeatInterval: heartbeatInterval)) } ?? .distantFuture
        return min(nextRoutine, quiet)
    }

    /// Seconds between looks while data frames are quiet and that is not said yet: whether control
    /// frames still arrive (a pong) is seen only by looking.
    public static let quietRecheck = 0.25

    /// The same for a caller that sleeps until the answer (the real agent's reporter): never in the
    /// past, so it cannot spin. While data frames are quiet and not yet reported, it looks again
    /// every `quietRecheck`; once reported, only the routine report is left.
    public func nextCheck(counters: LinkCounters, heartbeatInterval: Double, now: Date) -> Date {
        let next = nextCheck(counters: counters, heartbeatInterval: heartbeatInterval)
        guard next <= now else { return next }
        if nextRoutine <= now { return now }
        return reportedQuiet ? nextRoutine : min(nextRoutine, now.addingTimeInterval(Self.quietRecheck))
    }
}
