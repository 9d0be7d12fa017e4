/// A strict reader of Prometheus' text exposition format 0.0.4, for tests: every line is a
/// `# HELP`, a `# TYPE` or a sample `name{label="value",…} value`; names and label names match the
/// format's grammar, label values use only its three escapes, values parse, and each family's
/// `# TYPE` comes before its samples, which stand together. Anything else is an error naming the line.
public enum PrometheusExposition {
    /// One sample line.
    public struct Sample: Sendable, Equatable {
        public var name: String
        public var labels: [String: String]
        public var value: Double
    }

    /// A line that breaks the format.
    public struct Problem: Error, CustomStringConvertible {
        public var line: Int
        public var text: String
        public var why: String
        public var description: String { "line \(line) (\(String(reflecting: text))): \(why)" }
    }

    /// Every sample of `text`, in order; throws `Problem` at the first line that breaks the format.
    public static func parse(_ text: String) throws -> [Sample] {
        guard text.isEmpty || text.hasSuffix("\n") else { throw Problem(line: 0, text: "", why: "the body does not end with a newline") }
        var samples: [Sample] = []
        var types: [String: String] = [:]
        var helped: Set<String> = []
        var closed: Set<String> = []
        var sampled: Set<String> = []
        var current: String?
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().enumerated() {
            let line = String(raw)
            func fail(_ why: String) -> Problem { Problem(line: index + 1, text: line, why: why) }
            if line.hasPrefix("#") {
                let parts = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
                guard parts.count >= 3, parts[0] == "#", parts[1] == "HELP" || parts[1] == "TYPE" else { throw fail("a comment that is neither HELP nor TYPE") }
                let family = parts[2]
                guard isMetricName(family) else { throw fail("bad metric name") }
                guard !closed.contains(family), !sampled.contains(family) else { throw fail("HELP or TYPE after the family's samples") }
                if parts[1] == "HELP" {
                    guard helped.insert(family).inserted else { throw fail("a second HELP") }
                } else {
                    guard parts.count == 4, ["counter", "gauge", "histogram", "summary", "untyped"].contains(parts[3]) else { throw fail("bad TYPE") }
                    guard types[family] == nil else { throw fail("a second TYPE") }
                    types[family] = parts[3]
                }
                if let current, current != family { closed.insert(current) }
                current = family
                continue
            }
            let sample: Sample
            do { sample = try parseSample(line) } catch let why as Why { throw fail(why.text) }
            let family = familyName(of: sample.name, types: types)
            guard let type = types[family] else { throw fail("a sample before its family's TYPE") }
            guard family == current, !closed.contains(family) else { throw fail("a sample away from the rest of its family") }
            if type == "counter" { guard sample.name.hasSuffix("_total") else { throw fail("a counter without _total") } }
            sampled.insert(family)
            samples.append(sample)
        }
        return samples
    }

    /// Whether `name` is a metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    public static func isMetricName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, isLetter(first) || first == "_" || first == ":" else { return false }
        return name.unicodeScalars.allSatisfy { isLetter($0) || isDigit($0) || $0 == "_" || $0 == ":" }
    }

    /// Whether `name` is a label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
    public static func isLabelName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, isLetter(first) || first == "_" else { return false }
        return name.unicodeScalars.allSatisfy { isLetter($0) || isDigit($0) || $0 == "_" }
    }

    private struct Why: Error {
        var text: String
        init(_ text: String) { self.text = text }
    }

    private static func isLetter(_ c: Unicode.Scalar) -> Bool { ("a"..."z").contains(c) || ("A"..."Z").contains(c) }
    private static func isDigit(_ c: Unicode.Scalar) -> Bool { ("0"..."9").contains(c) }

    /// The family a sample belongs to: a histogram's `_bucket`, `_sum` and `_count` are its own.
    private static func familyName(of name: String, types: [String: String]) -> String {
        for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) {
            let base = String(name.dropLast(suffix.count))
            if let type = types[base], type == "histogram" || type == "summary" { return base }
        }
        return name
    }

    private static func parseSample(_ line: String) throws -> Sample {
        let scalars = Array(line.unicodeScalars)
        var i = 0
        var name = ""
        while i < scalars.count, scalars[i] != "{", scalars[i] != " " { name.unicodeScalars.append(scalars[i]); i += 1 }
        guard isMetricName(name) else { throw Why("bad metric name") }
        var labels: [String: String] = [:]
        if i < scalars.count, scalars[i] == "{" {
            i += 1
            while true {
                guard i < scalars.count else { throw Why("unterminated labels") }
                if scalars[i] == "}" { i += 1; break }
                var label = ""
                while i < scalars.count, scalars[i] != "=" { label.unicodeScalars.append(scalars[i]); i += 1 }
                guard isLabelName(label) else { throw Why("bad label name \(String(reflecting: label))") }
                guard i + 1 < scalars.count, scalars[i] == "=", scalars[i + 1] == "\"" else { throw Why("a label without a quoted value") }
                i += 2
                var value = ""
                while true {
                    guard i < scalars.count else { throw Why("unterminated label value") }
                    let c = scalars[i]
                    if c == "\"" { i += 1; break }
                    if c == "\\" {
                        guard i + 1 < scalars.count else { throw Why("a dangling escape") }
                        switch scalars[i + 1] {
                        case "\\": value += "\\"
                        case "\"": value += "\""
                        case "n": value += "\n"
                        default: throw Why("an escape the format does not have")
                        }
                        i += 2
                        continue
                    }
                    value.unicodeScalars.append(c)
                    i += 1
                }
                guard labels.updateValue(value, forKey: label) == nil else { throw Why("label \(label) twice") }
                guard i < scalars.count else { throw Why("unterminated labels") }
                if scalars[i] == "," { i += 1 } else if scalars[i] != "}" { throw Why("labels not separated by commas") }
            }
        }
        guard i < scalars.count, scalars[i] == " " else { throw Why("no space before the value") }
        let rest = String(String.UnicodeScalarView(scalars[(i + 1)...])).split(separator: " ", omittingEmptySubsequences: false)
        guard (1...2).contains(rest.count) else { throw Why("more than a value and a timestamp") }
        guard let value = number(String(rest[0])) else { throw Why("a value that is not a number") }
        if rest.count == 2 { guard Int64(rest[1]) != nil else { throw Why("a timestamp that is not an integer") } }
        return Sample(name: name, labels: labels, value: value)
    }

    private static func number(_ text: String) -> Double? {
        switch text {
        case "+Inf", "Inf": return .infinity
        case "-Inf": return -.infinity
        case "NaN": return .nan
        default:
            // Swift's parser also takes "inf", "nan" and hexadecimal; the format does not.
            guard !text.isEmpty, text.unicodeScalars.allSatisfy({ isDigit($0) || "+-.eE".unicodeScalars.contains($0) }) else { return nil }
            return Double(text)
        }
    }
}

extension Array where Element == PrometheusExposition.Sample {
    /// The value of the sample named `name` whose labels include `labels`; nil when there is none.
    public func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        first { sample in sample.name == name && labels.allSatisfy { sample.labels[$0.key] == $0.value } }?.value
    }
}
