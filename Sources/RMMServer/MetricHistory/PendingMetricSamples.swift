import Foundation
import RMMProtocol

/// The metric samples a session received since its agent's history was last written to the
/// store. The store holds the history (13 KB an agent); a session holds only these, a few hundred
/// bytes, so the charts add next to nothing to a connected agent's memory. At most one sample a
/// minute is kept (the day chart's resolution: a later sample in the same minute replaces the
/// earlier, as the chart would), and at most `limit` (an hour of minutes while the store cannot
/// be written; the oldest go first).
struct PendingMetricSamples: Sendable {
    /// One heartbeat's metrics and when they arrived.
    struct Sample: Sendable {
        var metrics: HostMetrics
        var at: Date
    }

    static let limit = 60

    private(set) var samples: [Sample] = []

    var isEmpty: Bool { samples.isEmpty }

    /// Keeps `metrics` taken at `at`; false (and nothing kept) when no value or the time is usable.
    @discardableResult
    mutating func add(_ metrics: HostMetrics, at: Date) -> Bool {
        guard AgentMetricHistory.isRecordable(metrics, at: at), let minute = Self.minute(of: at) else { return false }
        if let last = samples.last, Self.minute(of: last.at) == minute {
            samples[samples.count - 1] = Sample(metrics: metrics, at: at)
        } else {
            samples.append(Sample(metrics: metrics, at: at))
            if samples.count > Self.limit { samples.removeFirst(samples.count - Self.limit) }
        }
        return true
    }

    /// Every kept sample, leaving none.
    mutating func takeAll() -> [Sample] {
        defer { samples = [] }
        return samples
    }

    /// Puts back samples taken earlier whose write failed, ahead of those kept since.
    mutating func putBack(_ older: [Sample]) {
        samples = Array((older + samples).suffix(Self.limit))
    }

    /// The minute `date` falls in, as the day ring counts them.
    private static func minute(of date: Date) -> Int64? {
        AgentMetricHistory.seconds(date).map { seconds in
            let step = AgentMetricHistory.Range.day.step
            return seconds >= 0 ? seconds / step : (seconds - step + 1) / step
        }
    }
}
