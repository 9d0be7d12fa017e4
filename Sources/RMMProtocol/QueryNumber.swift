/// Strict reading of numbers from a URL query, on both ports: a value that is not a plain number
/// in its range (NaN, an infinity, a fraction where a whole number is meant, one too large to
/// convert, or outside the range) is an error that names the parameter, never a clamp or a trap.
public enum QueryNumber {
    /// Why a query value was refused, as a sentence for a 400 answer.
    public struct Problem: Error, Equatable, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// A whole number in `range`; `fallback` when the parameter is absent.
    public static func integer(_ raw: String?, name: String, in range: ClosedRange<Int>, fallback: Int) throws(Problem) -> Int {
        guard let raw else { return fallback }
        guard raw.utf8.count <= 20, let value = Int(raw), range.contains(value) else {
            throw Problem(description: "\(name) must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    /// A finite number in `range`; `fallback` when the parameter is absent.
    public static func real(_ raw: String?, name: String, in range: ClosedRange<Double>, fallback: Double) throws(Problem) -> Double {
        guard let raw else { return fallback }
        guard raw.utf8.count <= 32, let value = Double(raw), value.isFinite, range.contains(value) else {
            throw Problem(description: "\(name) must be a number from \(number(range.lowerBound)) to \(number(range.upperBound))")
        }
        return value
    }

    private static func number(_ value: Double) -> String {
        value.rounded() == value && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }
}

/// The query of the long-poll downlink on the agent port, `GET /agent/downlink/ID?after=N&wait=S`:
/// written by the agent's poller and read by the server here, so both agree on its grammar.
public struct DownlinkPollQuery: Sendable, Equatable {
    /// Every parameter the query has (tests send extremes to each).
    public enum Field: String, CaseIterable, Sendable {
        case after, wait
    }

    /// Longest a poll may wait for a frame, seconds.
    public static let maxWaitSeconds = 30.0
    /// How long a poll waits when it does not say.
    public static let defaultWaitSeconds = 20.0

    /// The index of the last frame the agent received; frames up to it are acknowledged.
    public var after: Int
    /// Seconds to wait for a frame before answering with none.
    public var wait: Double

    public init(after: Int, wait: Double = DownlinkPollQuery.defaultWaitSeconds) {
        self.after = after
        self.wait = wait
    }

    /// Reads the query's parameters (name, value); unknown names are ignored, and of a repeated
    /// one the first counts (as on the API port).
    public init(parameters: [(name: String, value: String?)]) throws(QueryNumber.Problem) {
        func value(_ field: Field) -> String? {
            parameters.first { $0.name == field.rawValue }.map { $0.value ?? "" }
        }
        after = try QueryNumber.integer(value(.after), name: "after", in: 0...WireRange.maxCount, fallback: 0)
        wait = try QueryNumber.real(value(.wait), name: "wait", in: 0...Self.maxWaitSeconds, fallback: Self.defaultWaitSeconds)
    }

    /// `after=N&wait=S`, as the poller sends it.
    public var queryString: String {
        "after=\(after)&wait=\(wait.rounded() == wait ? String(Int(wait)) : String(wait))"
    }
}
