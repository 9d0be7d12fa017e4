import Foundation

/// A flat JSON object's fields, written in sorted key order as Foundation's encoder writes them
/// (the caller calls them in that order); a value only the general encoder handles sets `failed`.
package struct FastJSONObjectWriter {
    package private(set) var bytes: [UInt8] = []
    package private(set) var failed = false

    package init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    private mutating func key(_ key: String) {
        if !bytes.isEmpty { bytes.append(UInt8(ascii: ",")) }
        bytes.append(ascii: "\"\(key)\":")
    }

    package mutating func string(_ name: String, _ value: String) {
        key(name)
        bytes.append(json: value)
    }

    package mutating func integer(_ name: String, _ value: Int) {
        key(name)
        bytes.append(integer: value)
    }

    /// A value JSON cannot hold fails the fast path.
    package mutating func double(_ name: String, _ value: Double) {
        guard value.isFinite else {
            failed = true
            return
        }
        key(name)
        bytes.append(double: value)
    }

    package mutating func bool(_ name: String, _ value: Bool) {
        key(name)
        bytes.append(ascii: value ? "true" : "false")
    }

    /// Base64, as Foundation's default data strategy writes it.
    package mutating func data(_ name: String, _ value: Data) {
        key(name)
        bytes.append(UInt8(ascii: "\""))
        bytes.append(contentsOf: value.base64EncodedString().utf8)
        bytes.append(UInt8(ascii: "\""))
    }

    /// A date as the `.iso8601` strategy writes it; outside `InternetDate`'s years it fails the
    /// fast path (Foundation's calendar is not the proleptic Gregorian one there).
    package mutating func date(_ name: String, _ value: Date) {
        guard let text = InternetDate.text(value) else {
            failed = true
            return
        }
        key(name)
        bytes.append(UInt8(ascii: "\""))
        bytes.append(contentsOf: text)
        bytes.append(UInt8(ascii: "\""))
    }
}

/// A flat object's values by key, read with the type the caller gives each key; each read
/// counts, so a key no field takes (which the general decoder would skip) can be declined.
package struct FastJSONFields {
    let bytes: UnsafeRawBufferPointer
    let ranges: [String: Range<Int>]
    private var read = 0
    package private(set) var failed = false

    /// `ranges` as `FastJSONReader.flatObject` found them in `bytes`.
    package init(bytes: UnsafeRawBufferPointer, ranges: [String: Range<Int>]) {
        self.bytes = bytes
        self.ranges = ranges
    }

    /// Every key present was read, and every read succeeded.
    package var allRead: Bool { !failed && read == ranges.count }

    private mutating func value<T>(_ key: String, required: Bool, _ parse: (inout FastJSONReader) -> T?) -> T? {
        guard let range = ranges[key] else {
            if required { failed = true }
            return nil
        }
        read += 1
        var reader = FastJSONReader(bytes: UnsafeRawBufferPointer(rebasing: bytes[range]))
        guard let value = parse(&reader), !reader.failed, reader.atEnd else {
            failed = true
            return nil
        }
        return value
    }

    package mutating func string(_ key: String, required: Bool = true) -> String? { value(key, required: required) { $0.string() } }
    package mutating func integer(_ key: String, required: Bool = true) -> Int? { value(key, required: required) { $0.integer() } }
    package mutating func int32(_ key: String, required: Bool = true) -> Int32? { value(key, required: required) { $0.int32() } }
    package mutating func double(_ key: String, required: Bool = true) -> Double? { value(key, required: required) { $0.number() } }
    package mutating func bool(_ key: String) -> Bool? { value(key, required: true) { $0.bool() } }
    package mutating func data(_ key: String) -> Data? { value(key, required: true) { $0.base64() } }
}

/// A flat object read key by key in the sorted order `FastJSONObjectWriter` writes: no dictionary,
/// no hashing. A key out of that order, unknown or repeated, sets `failed` (the caller declines
/// and leaves the object to Foundation, which takes keys in any order).
package struct FastJSONOrderedFields {
    package var reader: FastJSONReader
    private var first = true

    /// Reads from `reader`'s position, just after the object's `{`.
    package init(_ reader: FastJSONReader) { self.reader = reader }

    /// Consumes `"name":` (after its comma) if the next key is exactly `name`.
    private mutating func next(_ name: StaticString) -> Bool {
        let start = reader.at
        guard first || reader.take(","), reader.take("\""), reader.take(name), reader.take("\":") else {
            reader.at = start
            return false
        }
        first = false
        return true
    }

    /// The value of `name`, which must come next.
    package mutating func required<T>(_ name: StaticString, _ read: (inout FastJSONReader) -> T?) -> T? {
        guard !reader.failed, next(name), let value = read(&reader) else {
            reader.failed = true
            return nil
        }
        return value
    }

    /// The value of `name` if it comes next, else nil.
    package mutating func optional<T>(_ name: StaticString, _ read: (inout FastJSONReader) -> T?) -> T? {
        guard !reader.failed, next(name) else { return nil }
        guard let value = read(&reader) else {
            reader.failed = true
            return nil
        }
        return value
    }

    /// The object's `}` after its last field; false if anything else comes first.
    package mutating func end() -> Bool { !reader.failed && reader.take("}") }
}

extension FastJSONReader {
    /// A date as `InternetDate` reads it.
    package mutating func internetDate() -> Date? { string().flatMap { InternetDate.date(Array($0.utf8)) } }

    /// Base64 data, as Foundation's default data strategy reads it.
    package mutating func base64() -> Data? { string().flatMap { Data(base64Encoded: $0) } }

    /// An object of scalar values (a string without escapes, a number, a boolean) and the byte
    /// range of each value by key; nil for anything nested, a null, or a repeated key.
    package mutating func flatObject() -> [String: Range<Int>]? {
        guard take("{") else { return nil }
        var ranges: [String: Range<Int>] = [:]
        if take("}") { return ranges }
        repeat {
            guard let key = key(limit: 24), ranges[key] == nil, let range = scalar() else {
                failed = true
                return nil
            }
            ranges[key] = range
        } while take(",")
        guard take("}") else {
            failed = true
            return nil
        }
        return ranges
    }

    /// Skips one scalar value and returns where it lies; the typed read comes later.
    private mutating func scalar() -> Range<Int>? {
        let start = at
        guard at < bytes.count else { return nil }
        switch bytes[at] {
        case UInt8(ascii: "\""):
            at += 1
            while at < bytes.count, bytes[at] != UInt8(ascii: "\""), bytes[at] != UInt8(ascii: "\\") { at += 1 }
            guard at < bytes.count, bytes[at] == UInt8(ascii: "\"") else { return nil }
            at += 1
        case UInt8(ascii: "t"):
            guard take("true") else { return nil }
        case UInt8(ascii: "f"):
            guard take("false") else { return nil }
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            while at < bytes.count, (bytes[at] >= UInt8(ascii: "0") && bytes[at] <= UInt8(ascii: "9"))
                || bytes[at] == UInt8(ascii: "-") || bytes[at] == UInt8(ascii: ".")
                || bytes[at] == UInt8(ascii: "e") || bytes[at] == UInt8(ascii: "E") || bytes[at] == UInt8(ascii: "+") {
                at += 1
            }
        default:
            return nil
        }
        return start..<at
    }
}
