import Foundation

/// A cursor over one frame's bytes for the JSON fast paths (`HeartbeatWire`, `CommandWire`, the
/// API's batch lines). It reads only the plain JSON this codebase writes — no whitespace, no
/// escapes, no exponents — and any surprise sets `failed`, so the caller declines and leaves the
/// frame to Foundation's decoder.
package struct FastJSONReader {
    package let bytes: UnsafeRawBufferPointer
    package var at = 0
    package var failed = false

    package init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    package var atEnd: Bool { at == bytes.count }

    /// Consumes `text` if the bytes continue with exactly it.
    package mutating func take(_ text: StaticString) -> Bool {
        let count = text.utf8CodeUnitCount
        guard bytes.count - at >= count else { return false }
        let matches = text.withUTF8Buffer { expected in
            (0..<count).allSatisfy { bytes[at + $0] == expected[$0] }
        }
        if matches { at += count }
        return matches
    }

    /// A key of lowercase letters and underscores, at most `limit` long, and its colon.
    package mutating func key(limit: Int) -> String? {
        guard take("\"") else { return nil }
        let start = at
        while at < bytes.count, bytes[at] == UInt8(ascii: "_") || (bytes[at] >= UInt8(ascii: "a") && bytes[at] <= UInt8(ascii: "z")) {
            at += 1
        }
        guard at - start <= limit else { return nil }
        let key = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<at]), as: UTF8.self)
        guard take("\""), take(":") else { return nil }
        return key
    }

    /// A string without escapes or control characters, in valid UTF-8.
    package mutating func string() -> String? {
        guard take("\"") else {
            failed = true
            return nil
        }
        let start = at
        while at < bytes.count, bytes[at] != UInt8(ascii: "\""), bytes[at] != UInt8(ascii: "\\"), bytes[at] >= 0x20 { at += 1 }
        guard at < bytes.count, bytes[at] == UInt8(ascii: "\""),
              let text = String(validating: UnsafeRawBufferPointer(rebasing: bytes[start..<at]), as: UTF8.self) else {
            failed = true
            return nil
        }
        at += 1
        return text
    }

    /// `true` or `false`.
    package mutating func bool() -> Bool? {
        if take("true") { return true }
        if take("false") { return false }
        failed = true
        return nil
    }

    /// A JSON integer in `Int`'s range, no leading zeros.
    package mutating func integer() -> Int? {
        let negative = take("-")
        let start = at
        var magnitude: UInt64 = 0
        while at < bytes.count, bytes[at] >= UInt8(ascii: "0"), bytes[at] <= UInt8(ascii: "9"), at - start < 19 {
            magnitude = magnitude * 10 + UInt64(bytes[at] - UInt8(ascii: "0"))  // 19 digits fit in a UInt64
            at += 1
        }
        let digits = at - start
        let next = at < bytes.count ? bytes[at] : 0
        // A fraction, an exponent or a 20th digit: not an integer this path reads.
        guard digits > 0, !(digits > 1 && bytes[start] == UInt8(ascii: "0")),
              next != UInt8(ascii: "."), next != UInt8(ascii: "e"), next != UInt8(ascii: "E"),
              !(next >= UInt8(ascii: "0") && next <= UInt8(ascii: "9")),
              magnitude <= (negative ? UInt64(Int.max) + 1 : UInt64(Int.max)) else {
            failed = true
            return nil
        }
        return negative ? Int(truncatingIfNeeded: 0 &- magnitude) : Int(magnitude)
    }

    /// A JSON integer in `Int32`'s range.
    package mutating func int32() -> Int32? {
        guard let value = integer(), let narrow = Int32(exactly: value) else {
            failed = true
            return nil
        }
        return narrow
    }

    /// A number in JSON's grammar without an exponent (near the ends of `Double`'s range the
    /// decoders' judgements differ), read correctly rounded.
    package mutating func number() -> Double? {
        let start = at
        _ = take("-")
        func digits() -> Int {
            let from = at
            while at < bytes.count, bytes[at] >= UInt8(ascii: "0"), bytes[at] <= UInt8(ascii: "9") { at += 1 }
            return at - from
        }
        let intStart = at
        let intDigits = digits()
        var valid = intDigits > 0 && !(intDigits > 1 && bytes[intStart] == UInt8(ascii: "0"))
        if valid, take(".") { valid = digits() > 0 }
        if at < bytes.count, bytes[at] == UInt8(ascii: "e") || bytes[at] == UInt8(ascii: "E") { valid = false }
        guard valid, at - start <= 40,
              let value = Double(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<at]), as: UTF8.self)),
              value.isFinite else {
            failed = true
            return nil
        }
        return value
    }
}

/// The envelope around a fast path's body, as `WireCodec` writes it: `ack`, `body`, `seq`, `t`,
/// `v` in sorted order, nil fields left out; `body` writes the object's fields in between.
func fastEnvelopeFrame(type: String, seq: Int?, ack: Int?, version: Int, capacity: Int, body: (inout [UInt8]) -> Void) -> Data {
    var out: [UInt8] = []
    out.reserveCapacity(capacity)
    out.append(ascii: "{")
    if let ack { out.append(key: "ack", integer: ack) }
    out.append(ascii: "\"body\":{")
    body(&out)
    out.append(ascii: "},")
    if let seq { out.append(key: "seq", integer: seq) }
    out.append(ascii: "\"t\":\"\(type)\",\"v\":")
    out.append(integer: version)
    out.append(ascii: "}")
    return Data(out)
}

/// The writing half of the fast paths: the JSON `WireCodec`'s Foundation encoder would write for
/// the same values (keys in sorted order, nil fields left out), appended to a byte buffer.
extension [UInt8] {
    package mutating func append(ascii text: String) {
        append(contentsOf: text.utf8)
    }

    package mutating func append(integer value: Int) {
        append(contentsOf: String(value).utf8)
    }

    /// A finite number in Swift's shortest round-trip form, a whole one without its `.0` (as
    /// Foundation writes it).
    package mutating func append(double value: Double) {
        let text = value.description
        append(ascii: text.hasSuffix(".0") ? String(text.dropLast(2)) : text)
    }

    /// `"key":value,` (a field that another one follows).
    package mutating func append(key: String, integer value: Int) {
        append(ascii: "\"\(key)\":")
        append(integer: value)
        append(ascii: ",")
    }

    /// A string as JSON, escaped as Foundation escapes it (no escaping of `/` or of non-ASCII).
    package mutating func append(json text: String) {
        append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): append(ascii: "\\\"")
            case UInt8(ascii: "\\"): append(ascii: "\\\\")
            case 0x0A: append(ascii: "\\n")
            case 0x0D: append(ascii: "\\r")
            case 0x09: append(ascii: "\\t")
            case 0x08: append(ascii: "\\b")
            case 0x0C: append(ascii: "\\f")
            case 0..<0x20:
                let hex = String(byte, radix: 16)
                append(ascii: "\\u00" + (hex.count == 1 ? "0" : "") + hex)
            default: append(byte)
            }
        }
        append(UInt8(ascii: "\""))
    }
}
