import Foundation

/// Every numeric field of a JSON document, each replaced in turn by values no honest peer sends:
/// NaN, infinities, 2^70, negatives, fractions, just past the 64-bit range, and a subnormal.
/// The fields are found in the document itself, so a test that feeds it every message type's
/// full sample covers every numeric field those types have.
public enum NumericExtremes {
    /// Raw JSON number tokens (and the non-standard ones some parsers accept).
    public static let tokens = [
        "NaN", "nan", "Infinity", "-Infinity", "1e309", "-1e309", "1180591620717411303424", "-1180591620717411303424",
        "9223372036854775807", "9223372036854775808", "-9223372036854775809", "-1", "-0.5", "0.5", "1e-320", "4.9e-324",
        "253402300800", "1.7976931348623157e308", "0", "-0",
    ]

    /// One variant of the document.
    public struct Variant: Sendable, CustomStringConvertible {
        /// Where the number was, e.g. `body.side.counters.messages_received`.
        public var path: String
        public var token: String
        public var data: Data
        public var description: String { "\(path) = \(token)" }
    }

    /// A number in the document: its dotted path and where its bytes lie.
    public struct Field: Sendable, Equatable {
        public var path: String
        public var range: Range<Int>
    }

    /// Every number in `json` (outside strings; `true`, `false` and `null` are not numbers).
    public static func fields(in json: Data) -> [Field] {
        var scanner = Scanner(bytes: Array(json))
        scanner.value(path: [])
        return scanner.fields
    }

    /// `json` with each number replaced by each of `tokens`, one at a time.
    public static func variants(of json: Data, tokens: [String] = NumericExtremes.tokens) -> [Variant] {
        let bytes = Array(json)
        return fields(in: json).flatMap { field in
            tokens.map { token in
                Variant(path: field.path, token: token, data: Data(bytes[..<field.range.lowerBound] + Array(token.utf8) + bytes[field.range.upperBound...]))
            }
        }
    }

    /// A small JSON walker that records where each number is; it assumes well-formed input.
    private struct Scanner {
        let bytes: [UInt8]
        var at = 0
        var fields: [Field] = []

        init(bytes: [UInt8]) { self.bytes = bytes }

        private var current: UInt8? { at < bytes.count ? bytes[at] : nil }

        private mutating func skipSpace() {
            while let byte = current, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { at += 1 }
        }

        /// Reads a string starting at its quote and returns its (unescaped enough for a path) text.
        private mutating func string() -> String {
            var out: [UInt8] = []
            at += 1
            while let byte = current, byte != UInt8(ascii: "\"") {
                if byte == UInt8(ascii: "\\") {
                    at += 1
                }
                if let next = current { out.append(next) }
                at += 1
            }
            at += 1
            return String(decoding: out, as: UTF8.self)
        }

        mutating func value(path: [String]) {
            skipSpace()
            guard let byte = current else { return }
            switch byte {
            case UInt8(ascii: "{"):
                at += 1
                skipSpace()
                while let next = current, next != UInt8(ascii: "}") {
                    if next == UInt8(ascii: ",") {
                        at += 1
                        skipSpace()
                        continue
                    }
                    let key = string()
                    skipSpace()
                    at += 1  // ':'
                    value(path: path + [key])
                    skipSpace()
                }
                at += 1
            case UInt8(ascii: "["):
                at += 1
                var index = 0
                skipSpace()
                while let next = current, next != UInt8(ascii: "]") {
                    if next == UInt8(ascii: ",") {
                        at += 1
                        skipSpace()
                        continue
                    }
                    value(path: path + [String(index)])
                    index += 1
                    skipSpace()
                }
                at += 1
            case UInt8(ascii: "\""):
                _ = string()
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                let start = at
                while let next = current, next == UInt8(ascii: "-") || next == UInt8(ascii: "+") || next == UInt8(ascii: ".")
                    || next == UInt8(ascii: "e") || next == UInt8(ascii: "E") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(next) {
                    at += 1
                }
                fields.append(Field(path: path.joined(separator: "."), range: start..<at))
            default:
                // true, false, null
                while let next = current, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(next) { at += 1 }
            }
        }
    }
}
