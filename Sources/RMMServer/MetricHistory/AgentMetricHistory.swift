import Foundation
import RMMProtocol

/// One agent's CPU, memory and disk use over time, in fixed space: 1-minute points for 24 hours
/// and 15-minute points for 30 days, each point one byte per series (0–100 %, or no data).
///
/// A 1-minute point is the last sample taken in its minute. A 15-minute point is the average of
/// the 1-minute points of its quarter that hold data, recomputed as each sample lands, so the
/// month chart needs no state beyond the two rings. Buckets are keyed by their start, so a time
/// without samples (the agent away) stays a gap. Samples that are not finite are dropped;
/// finite ones are clamped to 0–100. A clock that goes back within a range's window writes into
/// the past buckets; one that goes back further starts that range again (see `MetricRing.write`).
public struct AgentMetricHistory: Sendable, Equatable {
    /// The ranges a chart shows, each from one ring.
    public enum Range: String, Sendable, CaseIterable {
        case day, month

        /// Seconds per point.
        public var step: Int64 { self == .day ? 60 : 900 }
        /// Points held (24 h of minutes, 30 days of quarter hours).
        public var count: Int { self == .day ? 1440 : 2880 }
    }

    /// One bucket of a range: its start, and each series' value (nil for no data).
    public struct Point: Sendable, Equatable {
        public var start: Date
        public var cpu: UInt8?
        public var memory: UInt8?
        public var disk: UInt8?

        public init(start: Date, cpu: UInt8?, memory: UInt8?, disk: UInt8?) {
            self.start = start
            self.cpu = cpu
            self.memory = memory
            self.disk = disk
        }
    }

    var minutes = MetricRing(step: Range.day.step, count: Range.day.count)
    var quarters = MetricRing(step: Range.month.step, count: Range.month.count)

    public init() {}

    init(minutes: MetricRing, quarters: MetricRing) {
        self.minutes = minutes
        self.quarters = quarters
    }

    /// Whether nothing was ever recorded.
    public var isEmpty: Bool { minutes.newest == nil && quarters.newest == nil }

    /// Whether `record` would keep anything of `metrics` taken at `at`.
    static func isRecordable(_ metrics: HostMetrics, at: Date) -> Bool {
        point(of: metrics) != nil && seconds(at) != nil
    }

    /// A sample's three bytes, nil when no value in it is usable.
    private static func point(of metrics: HostMetrics) -> [UInt8]? {
        let point = [percent(metrics.cpuPercent), share(metrics.memoryUsedBytes, of: metrics.memoryTotalBytes),
                     share(metrics.diskUsedBytes, of: metrics.diskTotalBytes)]
        return point.contains(where: { $0 != MetricRing.empty }) ? point : nil
    }

    /// Folds in samples a session kept, oldest first, at `now`. A sample more than a day older
    /// than `now` (kept through failed writes while its agent was away) is dropped: `record` would
    /// take it for the clock going back and start the rings again, losing what is stored.
    mutating func record(_ samples: [PendingMetricSamples.Sample], now: Date) {
        for sample in samples where now.timeIntervalSince(sample.at) <= Double(Range.day.step) * Double(Range.day.count) {
            record(sample.metrics, now: sample.at)
        }
    }

    /// Folds in a heartbeat's metrics taken at `now`. Returns whether anything was recorded
    /// (not when no value is usable or `now` is not a usable time).
    @discardableResult
    public mutating func record(_ metrics: HostMetrics, now: Date) -> Bool {
        guard let point = Self.point(of: metrics), let seconds = Self.seconds(now) else { return false }
        minutes.write(point, bucket: minutes.bucket(of: seconds))
        let quarter = quarters.bucket(of: seconds)
        let perQuarter = quarters.step / minutes.step
        let first = quarter * perQuarter
        let averaged = (0..<MetricRing.series).map { series in
            var sum = 0, held = 0
            for minute in first..<first + perQuarter {
                let value = minutes.value(minute, series: series)
                if value != MetricRing.empty { sum += Int(value); held += 1 }
            }
            return held == 0 ? MetricRing.empty : UInt8((sum + held / 2) / held)
        }
        quarters.write(averaged, bucket: quarter)
        return true
    }

    /// The `range.count` buckets ending with the one holding `now`, oldest first.
    public func points(_ range: Range, now: Date) -> [Point] {
        let ring = range == .day ? minutes : quarters
        let last = ring.bucket(of: Self.seconds(now) ?? 0)
        return (last - Int64(range.count) + 1...last).map { bucket in
            let value = { (series: Int) -> UInt8? in
                let byte = ring.value(bucket, series: series)
                return byte == MetricRing.empty ? nil : byte
            }
            return Point(start: Date(timeIntervalSince1970: Double(bucket * ring.step)), cpu: value(0), memory: value(1), disk: value(2))
        }
    }

    /// Whole seconds since 1970, nil for a time no ring can hold (not finite, or past `maxSeconds`).
    static func seconds(_ date: Date) -> Int64? {
        let t = date.timeIntervalSince1970
        guard t.isFinite, abs(t) < Double(MetricRing.maxSeconds) else { return nil }
        return Int64(t.rounded(.down))
    }

    static func percent(_ value: Double?) -> UInt8 {
        guard let value, value.isFinite else { return MetricRing.empty }
        return UInt8(min(max(value, 0), 100).rounded())
    }

    static func share(_ used: Int64?, of total: Int64?) -> UInt8 {
        guard let used, let total, total > 0, used >= 0 else { return MetricRing.empty }
        return percent(Double(used) / Double(total) * 100)
    }
}
