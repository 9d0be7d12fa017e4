import Foundation

/// A fast path for the one message an idle fleet is made of: a heartbeat without metrics.
///
/// Why: at 19,500 idle agents, Foundation's JSON coders spent a fifth of the server's CPU on
/// heartbeats (each way). This writes the same JSON object `WireCodec` would (same keys in the
/// same order; numbers in Swift's shortest round-trip form, whole ones without `.0`), and reads
/// that plain shape back; anything else — metrics, whitespace, escapes, a key it does not expect,
/// a number JSON does not allow, a version or value the general decoder would refuse — makes
/// `decode` answer nil, and the caller falls back to the general decoder, which then accepts or
/// refuses it as always. So the fast path can only ever agree with the general one (asserted by
/// the codec tests, including on mutated frames).
enum HeartbeatWire {
    /// The frame `WireCodec` would write for this heartbeat (sorted keys, nil fields left out),
    /// or nil when it carries metrics or a time JSON cannot hold.
    static func encode(_ heartbeat: Heartbeat, seq: Int?, ack: Int?, version: Int) -> Data? {
        guard heartbeat.metrics == nil, heartbeat.time.isFinite else { return nil }
        return fastEnvelopeFrame(type: "heartbeat", seq: seq, ack: ack, version: version, capacity: 112) { out in
            if let echo = heartbeat.echo { out.append(key: "echo", integer: echo) }
            out.append(key: "id", integer: heartbeat.id)
            out.append(ascii: "\"time\":")
            out.append(double: heartbeat.time)
        }
    }

    /// The envelope, if `bytes` is a heartbeat frame in the plain shape this side writes and the
    /// general decoder would accept it as it is; nil otherwise (decode it the general way).
    static func decode(_ bytes: UnsafeRawBufferPointer) -> Envelope? {
        guard bytes.count <= 256 else { return nil }
        var reader = FastJSONReader(bytes: bytes)
        var version: Int?, type = false, seq: Int?, ack: Int?, body: Heartbeat?
        guard reader.take("{") else { return nil }
        repeat {
            guard let key = reader.key(limit: 8) else { return nil }
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
}

extension FastJSONReader {
    /// `{"echo":…,"id":…,"time":…}` with `echo` optional; no other key.
    mutating func heartbeatBody() -> Heartbeat? {
        guard take("{") else { return nil }
        var id: Int?, echo: Int?, time: Double?
        repeat {
            switch key(limit: 8) {
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
}
