import Foundation
import Testing
@testable import RMMServer

@Suite struct MetricHistoryCodecTests {
    static func sampleHistory() -> AgentMetricHistory {
        var history = AgentMetricHistory()
        history.record(AgentMetricHistoryTests.sample(cpu: 12), now: AgentMetricHistoryTests.t0)
        history.record(AgentMetricHistoryTests.sample(cpu: 34), now: AgentMetricHistoryTests.t0.addingTimeInterval(7200))
        return history
    }

    /// `data` with the 8 bytes at `offset` replaced by `value`, big-endian.
    static func replacing(_ data: Data, at offset: Int, with value: Int64) -> Data {
        var copy = data
        withUnsafeBytes(of: value.bigEndian) { copy.replaceSubrange(offset..<offset + 8, with: $0) }
        return copy
    }

    @Test func roundTripsInAFixedSize() throws {
        #expect(try MetricHistoryCodec.decode(MetricHistoryCodec.encode(AgentMetricHistory())).get() == AgentMetricHistory())
        let history = Self.sampleHistory()
        let data = MetricHistoryCodec.encode(history)
        #expect(data.count == MetricHistoryCodec.encodedSize)
        #expect(MetricHistoryCodec.encodedSize == 12_977)
        #expect(try MetricHistoryCodec.decode(data).get() == history)
    }

    @Test func aTruncatedLongerOrOtherVersionBlobIsRefusedSayingWhy() {
        let data = MetricHistoryCodec.encode(Self.sampleHistory())
        #expect(MetricHistoryCodec.decode(data.dropLast()) == .failure(.size(12_976)))
        #expect(MetricHistoryCodec.decode(data + Data([0])) == .failure(.size(12_978)))
        #expect(MetricHistoryCodec.decode(Data()) == .failure(.size(0)))
        #expect(MetricHistoryCodec.decode(Data([2]) + data.dropFirst()) == .failure(.version(2)))
        #expect(MetricHistoryCodec.decode(Data([0]) + data.dropFirst()) == .failure(.version(0)))
        #expect("\(MetricHistoryCodec.Unreadable.version(2))" == "version 2, not 1")
    }

    @Test func aValueOutOfRangeOrAnImpossibleTimeIsRefused() {
        let data = MetricHistoryCodec.encode(Self.sampleHistory())
        let dayStart = 17, monthStart = 17 + 1440 * 3
        for (offset, range) in [(dayStart, AgentMetricHistory.Range.day), (monthStart + 5, .month), (data.count - 1, .month)] {
            var damaged = data
            damaged[offset] = 101
            #expect(MetricHistoryCodec.decode(damaged) == .failure(.ring(range)), "a byte of 101 at \(offset)")
        }
        // Newest buckets whose arithmetic would overflow, or beyond any time a ring takes.
        for value in [Int64.max, Int64.min + 1, Int64.max / 60, -1_000_000_000_000_000] {
            #expect(MetricHistoryCodec.decode(Self.replacing(data, at: 1, with: value)) == .failure(.ring(.day)), "day newest \(value)")
            #expect(MetricHistoryCodec.decode(Self.replacing(data, at: 9, with: value)) == .failure(.ring(.month)), "month newest \(value)")
        }
        // "Never written" with points in it.
        #expect(MetricHistoryCodec.decode(Self.replacing(data, at: 1, with: .min)) == .failure(.ring(.day)))
    }

    /// Damaged blobs of the right size and version: each either is refused or decodes to a
    /// history that records, reads and draws without trapping, its values within 0–100.
    @Test func damagedBlobsNeverTrapAndNeverYieldValuesOutOfRange() throws {
        let valid = MetricHistoryCodec.encode(Self.sampleHistory())
        var random = SplitMix(seed: 17)
        var decoded = 0
        for round in 0..<900 {
            var data = valid
            switch round % 3 {
            case 0:
                for _ in 0..<(1 + Int(random.next() % 8)) {
                    let at = 1 + Int(random.next() % UInt64(data.count - 1))
                    data[at] = [0, 100, 0xFF, 101, UInt8(truncatingIfNeeded: random.next())][Int(random.next() % 5)]
                }
            case 1:
                // A plausible or wild newest for either ring.
                let wild = Int64(bitPattern: random.next()) >> Int64(random.next() % 64)
                data = Self.replacing(data, at: random.next() % 2 == 0 ? 1 : 9, with: wild)
            default:
                data = Data([1]) + Data((1..<data.count).map { _ in random.next() % 4 == 0 ? 0xFF : UInt8(random.next() % 101) })
                data = Self.replacing(data, at: 1, with: Int64(bitPattern: random.next()) >> 30)
                data = Self.replacing(data, at: 9, with: Int64(bitPattern: random.next()) >> 34)
            }
            guard case .success(var history) = MetricHistoryCodec.decode(data) else { continue }
            decoded += 1
            let now = AgentMetricHistoryTests.t0.addingTimeInterval(Double(Int64(random.next() % 4_000_000)) - 2_000_000)
            history.record(AgentMetricHistoryTests.sample(cpu: 50), now: now)
            for range in AgentMetricHistory.Range.allCases {
                let points = history.points(range, now: now)
                #expect(points.allSatisfy { [$0.cpu, $0.memory, $0.disk].allSatisfy { ($0 ?? 0) <= 100 } })
                // Drawing is the slow part in a debug build: every tenth round.
                if round % 10 == 0 { #expect(MetricChartSVG.render(points, range: range).hasSuffix("</svg>")) }
            }
            #expect(try MetricHistoryCodec.decode(MetricHistoryCodec.encode(history)).get() == history)
        }
        #expect(decoded > 300, "enough damaged blobs decode to exercise what follows")
    }
}
