import Foundation

/// A fast path for the one message an idle fleet is made of: a heartbeat without metrics.
///
/// Why: at 19,500 idle agents, Foundation's JSON coders spent a fifth of the server's CPU on
/// heartbeats (each way). This writes the same JSON object `WireCodec` would (same keys in the
/// same order; numbers in Swift's shortest round-trip form), and reads that plain shape back;
/// anything else — metrics, whitespace, escapes, a key it
/// does not expect, a number JSON does not allow, a version or value the general decoder would
/// refuse — makes `decode` answer nil, and the caller falls back to the general decoder, which
/// then accepts or refuses it as always. So the fast path can only ever agree with the general
/// one (asserted by the codec tests, including on mutated frames).
enum HeartbeatWire {
    /// The frame `WireCodec` would write for this heartbeat (sorted keys, nil fields left out),
    /// or nil when it carries metrics or a time JSON cannot hold.
    static func encode(_ heartbeat: Heartbeat, seq: Int?, ack: Int?, version: Int) -> Data? {
        guard heartbeat.metrics == nil, heartbeat.time.isFinite else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(112)
        out.append(ascii: "{")
        if let ack { out.append(key: "ack", integer: ack) }
        out.append(ascii: "\"body\":{")
        if let echo = heartbeat.echo { out.append(key: "echo", integer: echo) }
        out.append(key: "id", integer: heartbeat.id)
        out.append(ascii: "\"time\":")
        out.append(ascii: heartbeat.time.description)
        out.append(ascii: "},")
        if let seq { out.append(key: "seq", integer: seq) }
        out.append(ascii: "\"t\":\"heartbeat\",\"v\":")
        out.append(integer: version)
        out.append(ascii: "}")
        return Data(out)
    }

    /// The envelope, if `bytes` is a heartbeat frame in the plain shape this side writes and the
    /// general decoder would accept it as it is; nil otherwise (decode it the general way).
    static func decode(_ bytes: UnsafeRawBufferPointer) -> Envelope? {
        guard bytes.count <= 256 else { return nil }
        var reader = Reader(bytes: bytes)
        var version: Int?, type = false, seq: Int?, ack: Int?, body: Heartbeat?
        guard reader.take("{") else { return nil }
        repeat {
            guard let key = reader.key() else { return nil }
            // Every value must read, and every key appear once: a second try at a key could
            // accept what the general decoder (which sees the first) refuses.
            switch key {
            case "v" where version == nil: version = reader.integer()
            case "t" where !type: type = reader.take("\"heartbeat\"")
            case "seq" where seq == nil: seq = reader.integer()
            case "ack" where ack == nil: ack = reader.integer()
            case "body" where body == nil: body = reader.heartbeatBody()
            default: return nil
            }
            guard !reader.failed, key != "t" || type, key != "body" || body != nil else { return nil }
        } while reader.take(",")
        guard reader.take("}"), reader.atEnd, type, let version, let body else { return nil }
        // What the general decoder refuses, it must refuse (with its own words): leave it to it.
        guard version == WireLimits.protocolVersion, seq.map({ $0 >= 1 }) ?? true, ack.map({ $0 >= 0 }) ?? true else { return nil }
        return Envelope(.heartbeat(body), seq: seq, ack: ack, version: version)
    }

    /// A cursor over one frame's bytes; any surprise sets `failed`.
    private struct Reader {
        let bytes: UnsafeRawBufferPointer
        var at = 0
        var failed = false

        init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

        var atEnd: Bool { at == bytes.count }

        /// Consumes `text` if the bytes continue with exactly it.
        mutating func take(_ text: StaticString) -> Bool {
            let count = text.utf8CodeUnitCount
            guard bytes.count - at >= count else { return false }
            let matches = text.withUTF8Buffer { expected in
                (0..<count).allSatisfy { bytes[at + $0] == expected[$0] }
            }
            if matches { at += count }
            return matches
        }

        /// A key of lowercase letters and underscores and its colon (no escapes: anything else is
        /// left to the general decoder).
        mutating func key() -> String? {
            guard take("\"") else { return nil }
            let start = at
            while at < bytes.count, bytes[at] == UInt8(ascii: "_") || (bytes[at] >= UInt8(ascii: "a") && bytes[at] <= UInt8(ascii: "z")) {
                at += 1
            }
            guard at - start <= 8 else { return nil }
            let key = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<at]), as: UTF8.self)
            guard take("\""), take(":") else { return nil }
            return key
        }

        /// `{"echo":…,"id":…,"time":…}` with `echo` optional; no other key.
        mutating func heartbeatBody() -> Heartbeat? {
            guard take("{") else { return nil }
            var id: Int?, echo: Int?, time: Double?
            repeat {
                switch key() {
                case "id" where id == nil: id = integer()
                case "echo" where echo == nil: echo = integer()
                case "time" where time == nil: time = number()
                default: failed = true
                }
                if failed { return nil }
            } while take(",")
            guard take("}"), let id, let time else { return nil }
            return Heartbeat(id: id, echo: echo, time: time)
        }

        /// A JSON integer in `Int`'s range, no leading zeros.
        mutating func integer() -> Int? {
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

        /// A number in JSON's grammar without an exponent (a clock reading never needs one; near
        /// the ends of `Double`'s range the decoders' judgements differ), read correctly rounded.
        mutating func number() -> Double? {
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
}

extension [UInt8] {
    fileprivate mutating func append(ascii text: String) {
        append(contentsOf: text.utf8)
    }

    fileprivate mutating func append(integer value: Int) {
        append(contentsOf: String(value).utf8)
    }

    /// `"key":value,` (a field that another one follows).
    fileprivate mutating func append(key: String, integer value: Int) {
        append(ascii: "\"\(key)\":")
        append(integer: value)
        append(ascii: ",")
    }
}
