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
