import Foundation
import RMMProtocol
import Testing
@testable import RMMServer

@Suite struct AgentMetricHistoryTests {
    /// A day boundary, so minute and quarter buckets start on it.
    static let t0 = Date(timeIntervalSince1970: 1_799_971_200)

    static func sample(cpu: Double?, memory: (Int64, Int64)? = (50, 100), disk: (Int64, Int64)? = (25, 100)) -> HostMetrics {
        HostMetrics(cpuPercent: cpu, memoryTotalBytes: memory?.1, memoryUsedBytes: memory?.0, diskTotalBytes: disk?.1, diskUsedBytes: disk?.0)
    }

    @Test func aMinutePointIsTheLastSampleOfItsMinuteAndTheNextMinuteStartsAfresh() {
        var history = AgentMetricHistory()
        var ok = history.record(Self.sample(cpu: 10), now: Self.t0.addingTimeInterval(5))
        #expect(ok)
        ok = history.record(Self.sample(cpu: 30), now: Self.t0.addingTimeInterval(50))
        #expect(ok)
        ok = history.record(Self.sample(cpu: 70), now: Self.t0.addingTimeInterval(65))
        #expect(ok)
        let points = history.points(.day, now: Self.t0.addingTimeInterval(70))
        #expect(points.count == 1440)
        #expect(points.last?.start == Self.t0.addingTimeInterval(60))
        #expect(points.last.map { [$0.cpu, $0.memory, $0.disk] } == [70, 50, 25])
        #expect(points[1438].cpu == 30)
        #expect(points[1437].cpu == nil)
    }

    @Test func aQuarterPointAveragesTheMinutesOfItsQuarterThatHoldData() {
        var history = AgentMetricHistory()
        history.record(Self.sample(cpu: 10), now: Self.t0)
        history.record(Self.sample(cpu: 20), now: Self.t0.addingTimeInterval(60))
        // Minute 2 is a gap; it does not pull the average down.
        history.record(Self.sample(cpu: 60), now: Self.t0.addingTimeInterval(180))
        history.record(Self.sample(cpu: 99), now: Self.t0.addingTimeInterval(900))
        let points = history.points(.month, now: Self.t0.addingTimeInterval(900))
        #expect(points.count == 2880)
        #expect(points[2878].start == Self.t0)
        #expect(points[2878].cpu == 30)
        #expect(points[2879].cpu == 99)
    }

    @Test func timeWithoutSamplesStaysAGapAndOldPointsLeaveTheWindow() {
        var history = AgentMetricHistory()
        history.record(Self.sample(cpu: 40), now: Self.t0)
        history.record(Self.sample(cpu: 41), now: Self.t0.addingTimeInterval(3600))
        let day = history.points(.day, now: Self.t0.addingTimeInterval(3600))
        #expect(day.compactMap(\.cpu) == [40, 41])
        #expect(day[1439 - 60].cpu == 40)
        // A day later the first point is out of the day's ring, still in the month's.
        let later = Self.t0.addingTimeInterval(86_400 + 60)
        history.record(Self.sample(cpu: 42), now: later)
        #expect(history.points(.day, now: later).compactMap(\.cpu) == [41, 42])
        #expect(history.points(.month, now: later).compactMap(\.cpu) == [40, 41, 42])
        // Reading later than the newest sample shows the time since as a gap.
        #expect(history.points(.day, now: later.addingTimeInterval(86_400)).compactMap(\.cpu) == [])
    }

    @Test func aClockThatGoesBackWritesThePastWithinTheWindowAndStartsTheRangeAgainBeyondIt() {
        var history = AgentMetricHistory()
        let t1 = Self.t0.addingTimeInterval(10 * 3600)
        history.record(Self.sample(cpu: 10), now: t1)
        // Back an hour: the past minute is written, the later one kept.
        var ok = history.record(Self.sample(cpu: 20), now: t1.addingTimeInterval(-3600))
        #expect(ok)
        #expect(history.points(.day, now: t1).compactMap(\.cpu) == [20, 10])
        // Back two days: the day's ring starts again there (it would otherwise refuse every
        // sample for two days); the month's ring, whose window holds both times, keeps both.
        let back = t1.addingTimeInterval(-2 * 86_400)
        ok = history.record(Self.sample(cpu: 30), now: back)
        #expect(ok)
        #expect(history.points(.day, now: t1).compactMap(\.cpu) == [])
        #expect(history.points(.day, now: back).compactMap(\.cpu) == [30])
        #expect(history.points(.month, now: t1).compactMap(\.cpu) == [30, 20, 10])
        // Recording goes on from the clock's new time.
        ok = history.record(Self.sample(cpu: 40), now: back.addingTimeInterval(60))
        #expect(ok)
        #expect(history.points(.day, now: back.addingTimeInterval(60)).compactMap(\.cpu) == [30, 40])
        // Back a year: both rings start again.
        let year = back.addingTimeInterval(-365 * 86_400)
        ok = history.record(Self.sample(cpu: 50), now: year)
        #expect(ok)
        #expect(history.points(.month, now: back).compactMap(\.cpu) == [])
        #expect(history.points(.month, now: year).compactMap(\.cpu) == [50])
    }

    @Test func aGapOfWeeksKeepsTheMonthsOlderPointsAndAGapOfMonthsEmptiesThem() {
        var history = AgentMetricHistory()
        history.record(Self.sample(cpu: 7), now: Self.t0)
        let weeks = Self.t0.addingTimeInterval(20 * 86_400)
        history.record(Self.sample(cpu: 8), now: weeks)
        #expect(history.points(.day, now: weeks).compactMap(\.cpu) == [8])
        let month = history.points(.month, now: weeks)
        #expect(month.compactMap(\.cpu) == [7, 8])
        #expect(month.filter { $0.cpu != nil }.map(\.start) == [Self.t0, weeks])
        let months = weeks.addingTimeInterval(75 * 86_400)
        history.record(Self.sample(cpu: 9), now: months)
        #expect(history.points(.month, now: months).compactMap(\.cpu) == [9])
    }

    @Test func aJumpPastTheWholeWindowEmptiesEveryBucket() {
        var history = AgentMetricHistory()
        for minute in 0..<1440 { history.record(Self.sample(cpu: 50), now: Self.t0.addingTimeInterval(Double(minute * 60))) }
        let far = Self.t0.addingTimeInterval(1_000 * 86_400)
        history.record(Self.sample(cpu: 5), now: far)
        #expect(history.points(.day, now: far).compactMap(\.cpu) == [5])
        #expect(history.points(.month, now: far).compactMap(\.cpu) == [5])
    }

    @Test func hostileNumbersAreClampedOrDropped() {
        var history = AgentMetricHistory()
        let at = Self.t0
        history.record(HostMetrics(cpuPercent: .nan, memoryTotalBytes: 0, memoryUsedBytes: 5, diskTotalBytes: -1, diskUsedBytes: 5), now: at)
        #expect(history.isEmpty)
        history.record(HostMetrics(cpuPercent: .infinity, memoryTotalBytes: 10, memoryUsedBytes: -4, diskTotalBytes: 10, diskUsedBytes: .max), now: at)
        #expect(history.points(.day, now: at).last.map { [$0.cpu, $0.memory, $0.disk] } == [nil, nil, 100])
        history.record(Self.sample(cpu: -20), now: at)
        #expect(history.points(.day, now: at).last?.cpu == 0)
        history.record(Self.sample(cpu: 1e300), now: at)
        #expect(history.points(.day, now: at).last?.cpu == 100)
        var ok = history.record(Self.sample(cpu: 5), now: Date(timeIntervalSince1970: .infinity))
        #expect(!ok)
        ok = history.record(Self.sample(cpu: 5), now: Date(timeIntervalSince1970: .nan))
        #expect(!ok)
        ok = history.record(Self.sample(cpu: 5), now: Date(timeIntervalSince1970: 1e300))
        #expect(!ok)
        ok = history.record(Self.sample(cpu: 5), now: Date(timeIntervalSince1970: -1e300))
        #expect(!ok)
        // The extreme 64-bit sizes, either way round.
        history.record(HostMetrics(cpuPercent: 1, memoryTotalBytes: 1, memoryUsedBytes: .max, diskTotalBytes: .max, diskUsedBytes: .max), now: at)
        #expect(history.points(.day, now: at).last.map { [$0.memory, $0.disk] } == [100, 100])
        history.record(HostMetrics(cpuPercent: 1, memoryTotalBytes: .max, memoryUsedBytes: 1, diskTotalBytes: .min, diskUsedBytes: .min), now: at)
        #expect(history.points(.day, now: at).last.map { [$0.memory, $0.disk] } == [0, nil])
        // The far edges of time a ring takes still record and read back.
        for edge in [-9.9e14, 9.9e14] {
            var far = AgentMetricHistory()
            let when = Date(timeIntervalSince1970: edge)
            ok = far.record(Self.sample(cpu: 3), now: when)
            #expect(ok)
            #expect(far.points(.month, now: when).last?.cpu == 3)
        }
    }
}
