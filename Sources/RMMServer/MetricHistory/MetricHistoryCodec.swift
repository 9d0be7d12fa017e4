import Foundation

/// The stored form of an `AgentMetricHistory`: a version byte, each ring's newest bucket (8 bytes,
/// big-endian; `Int64.min` for none), then each ring's points. 12,977 bytes for every agent.
public enum MetricHistoryCodec {
    static let version: UInt8 = 1
    /// The encoded size, the same for every history.
    public static let encodedSize = 1 + 16 + (AgentMetricHistory.Range.day.count + AgentMetricHistory.Range.month.count) * MetricRing.series

    /// Why a stored blob is not a history this server can read; it is then taken as empty.
    public enum Unreadable: Error, Equatable, CustomStringConvertible {
        case size(Int)
        case version(UInt8)
        case ring(AgentMetricHistory.Range)

        public var description: String {
            switch self {
            case .size(let size): "\(size) bytes, not \(MetricHistoryCodec.encodedSize)"
            case .version(let version): "version \(version), not \(MetricHistoryCodec.version)"
            case .ring(let range): "the \(range.rawValue) points hold a value out of 0–100 or an impossible time"
            }
        }
    }

    public static func encode(_ history: AgentMetricHistory) -> Data {
        var data = Data(capacity: encodedSize)
        data.append(version)
        for newest in [history.minutes.newest, history.quarters.newest] {
            withUnsafeBytes(of: (newest ?? Int64.min).bigEndian) { data.append(contentsOf: $0) }
        }
        data.append(contentsOf: history.minutes.bytes)
        data.append(contentsOf: history.quarters.bytes)
        return data
    }

    /// The history in `data`, or why it is not one `encode` wrote. Sizes are this file's
    /// constants, never read from the blob; every byte is checked before it is used.
    public static func decode(_ data: Data) -> Result<AgentMetricHistory, Unreadable> {
        guard data.count == encodedSize else { return .failure(.size(data.count)) }
        let bytes = [UInt8](data)
        guard bytes[0] == version else { return .failure(.version(bytes[0])) }
        func newest(at offset: Int) -> Int64? {
            let value = bytes[offset..<offset + 8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            return value == UInt64(bitPattern: Int64.min) ? nil : Int64(bitPattern: value)
        }
        let day = AgentMetricHistory.Range.day, month = AgentMetricHistory.Range.month
        let split = 17 + day.count * MetricRing.series
        guard let minutes = MetricRing(step: day.step, count: day.count, bytes: bytes[17..<split], newest: newest(at: 1)) else {
            return .failure(.ring(.day))
        }
        guard let quarters = MetricRing(step: month.step, count: month.count, bytes: bytes[split...], newest: newest(at: 9)) else {
            return .failure(.ring(.month))
        }
        return .success(AgentMetricHistory(minutes: minutes, quarters: quarters))
    }
}
