import Foundation

/// Why a frame could not be turned into an `Envelope`. Each case maps to a WebSocket close code.
public enum WireDecodeError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Not JSON, or JSON without the envelope's shape, or a body that does not match its type.
    case malformed(String)
    /// A `v` this build does not speak.
    case unsupportedVersion(Int)
    /// A well-formed envelope whose `t` this build does not know. Counted and skipped, never fatal.
    case unknownType(String)
    /// Larger than the limit in force.
    case tooLarge(Int, limit: Int)

    public var description: String {
        switch self {
        case .malformed(let why): return "malformed message: \(why)"
        case .unsupportedVersion(let v): return "unsupported protocol version \(v) (this build speaks \(WireLimits.protocolVersion))"
        case .unknownType(let t): return "unknown message type '\(t)'"
        case .tooLarge(let n, let limit): return "message of \(n) bytes exceeds the limit of \(limit) bytes"
        }
    }
}

/// The one place envelopes are encoded to and decoded from JSON bytes.
public struct WireCodec: Sendable {
    public init() {}

    /// One frame, decoded in a single JSON pass: the header first, then the body its `t` names.
    /// (Parsing the frame once for the header and again for the body doubled the decoding cost.)
    private struct Frame: Decodable {
        var envelope: Envelope

        private enum Key: String, CodingKey {
            case v, t, seq, ack, body
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: Key.self)
            let version: Int, type: String, seq: Int?, ack: Int?
            do {
                version = try container.decode(Int.self, forKey: .v)
                type = try container.decode(String.self, forKey: .t)
                seq = try container.decodeIfPresent(Int.self, forKey: .seq)
                ack = try container.decodeIfPresent(Int.self, forKey: .ack)
            } catch {
                throw WireDecodeError.malformed("not a GuruRMM envelope (\(WireCodec.describe(error)))")
            }
            if version != WireLimits.protocolVersion { throw WireDecodeError.unsupportedVersion(version) }
            if let seq, seq < 1 { throw WireDecodeError.malformed("seq must be positive") }
            if let ack, ack < 0 { throw WireDecodeError.malformed("ack must not be negative") }
            func body<B: Decodable>(_: B.Type) throws -> B {
                do {
                    return try container.decode(B.self, forKey: .body)
                } catch {
                    throw WireDecodeError.malformed("bad '\(type)' body (\(WireCodec.describe(error)))")
                }
            }
            let message: Message
            switch type {
            case "challenge": message = .challenge(try body(Challenge.self))
            case "hello": message = .hello(try body(Hello.self))
            case "enroll": message = .enroll(try body(Enroll.self))
            case "welcome": message = .welcome(try body(Welcome.self))
            case "heartbeat": message = .heartbeat(try body(Heartbeat.self))
            case "config_update": message = .configUpdate(try body(ConfigUpdate.self))
            case "config_applied": message = .configApplied(try body(ConfigApplied.self))
            case "command": message = .command(try body(CommandSpec.self))
            case "cancel": message = .cancel(try body(Cancel.self))
            case "command_ack": message = .commandAck(try body(CommandAck.self))
            case "started": message = .started(try body(CommandStarted.self))
            case "output": message = .output(try body(CommandOutput.self))
            case "result": message = .result(try body(CommandResult.self))
            case "chunk": message = .chunk(try body(Chunk.self))
            case "probe": message = .probe(try body(Probe.self))
            case "probe_reply": message = .probeReply(try body(ProbeReply.self))
            case "link_report": message = .linkReport(try body(LinkReport.self))
            case "doctor": message = .doctor(try body(DoctorHello.self))
            case "doctor_ready": message = .doctorReady(try body(DoctorReady.self))
            default: throw WireDecodeError.unknownType(WireCodec.printable(type, limit: 64))
            }
            if message.isReliable && seq == nil { throw WireDecodeError.malformed("'\(type)' needs a seq") }
            envelope = Envelope(message, seq: seq, ack: ack, version: version)
        }
    }

    private struct Out<Body: Encodable>: Encodable {
        var v: Int
        var t: String
        var seq: Int?
        var ack: Int?
        var body: Body
    }

    /// Made once: their settings never change after this, and Foundation's coders are safe to
    /// share between threads then (they are `Sendable`; each call keeps its state on its own stack).
    private static let sharedEncoder = makeEncoder()
    private static let sharedDecoder = makeDecoder()

    private static func makeEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = WireKeys.encoding  // = .convertToSnakeCase, cached
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    private static func makeDecoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = WireKeys.decoding  // = .convertFromSnakeCase, cached
        return decoder
    }

    public func encode(_ envelope: Envelope) throws -> Data {
        if case .heartbeat(let heartbeat) = envelope.message,
           let fast = HeartbeatWire.encode(heartbeat, seq: envelope.seq, ack: envelope.ack, version: envelope.version) {
            return fast
        }
        if let fast = CommandWire.encode(envelope) { return fast }
        return try generalEncode(envelope)
    }

    /// Any envelope through Foundation's encoder (tests compare the heartbeat fast path with it).
    func generalEncode(_ envelope: Envelope) throws -> Data {
        let encoder = Self.sharedEncoder
        func out<B: Encodable>(_ body: B) throws -> Data {
            try encoder.encode(Out(v: envelope.version, t: envelope.message.type, seq: envelope.seq, ack: envelope.ack, body: body))
        }
        switch envelope.message {
        case .challenge(let b): return try out(b)
        case .hello(let b): return try out(b)
        case .enroll(let b): return try out(b)
        case .welcome(let b): return try out(b)
        case .heartbeat(let b): return try out(b)
        case .configUpdate(let b): return try out(b)
        case .configApplied(let b): return try out(b)
        case .command(let b): return try out(b)
        case .cancel(let b): return try out(b)
        case .commandAck(let b): return try out(b)
        case .started(let b): return try out(b)
        case .output(let b): return try out(b)
        case .result(let b): return try out(b)
        case .chunk(let b): return try out(b)
        case .probe(let b): return try out(b)
        case .probeReply(let b): return try out(b)
        case .linkReport(let b): return try out(b)
        case .doctor(let b): return try out(b)
        case .doctorReady(let b): return try out(b)
        }
    }

    /// Decodes one frame. Throws `WireDecodeError` only.
    public func decode(_ data: Data, limit: Int = WireLimits.maxMessageBytes) throws(WireDecodeError) -> Envelope {
        if data.count > limit { throw .tooLarge(data.count, limit: limit) }
        let envelope: Envelope
        if let heartbeat = data.withUnsafeBytes(HeartbeatWire.decode) {
            envelope = heartbeat
        } else if let command = data.withUnsafeBytes(CommandWire.decode) {
            envelope = command
        } else {
            envelope = try generalDecode(data)
        }
        // Every number is checked here, once, so no consumer meets NaN, an infinity or a value it
        // cannot convert (`WireRange`).
        if let problem = envelope.rangeProblem() { throw .malformed("'\(envelope.message.type)' out of range: \(problem)") }
        return envelope
    }

    /// Any frame through Foundation's decoder (tests compare the heartbeat fast path with it).
    func generalDecode(_ data: Data) throws(WireDecodeError) -> Envelope {
        do {
            return try Self.sharedDecoder.decode(Frame.self, from: data).envelope
        } catch let error as WireDecodeError {
            throw error
        } catch {
            // Not JSON at all, or not an object: the frame failed before any of its keys were read.
            throw .malformed("not a GuruRMM envelope (\(Self.describe(error)))")
        }
    }

    /// A short, single-line account of a decoding error, safe to send back in a close reason.
    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let ctx):
            return "missing '\(Self.path(ctx.codingPath + [key]))'"
        case DecodingError.typeMismatch(_, let ctx), DecodingError.valueNotFound(_, let ctx):
            return "wrong type at '\(Self.path(ctx.codingPath))'"
        case DecodingError.dataCorrupted(let ctx):
            return ctx.codingPath.isEmpty ? "invalid JSON" : "invalid value at '\(Self.path(ctx.codingPath))'"
        default:
            return "undecodable"
        }
    }

    /// A coding path as it appears on the wire (snake_case), e.g. `body.timeout_seconds`. Dictionary
    /// keys in it come from the peer, so each is cut short and stripped of line breaks.
    private static func path(_ keys: [any CodingKey]) -> String {
        keys.map { $0.intValue.map(String.init) ?? printable(snakeCase($0.stringValue), limit: 40) }.joined(separator: ".")
    }

    /// Peer-supplied text fit for a one-line error (see `LogSafe`).
    fileprivate static func printable(_ text: String, limit: Int) -> String {
        LogSafe.text(text, limit: limit)
    }

    private static func snakeCase(_ name: String) -> String {
        var out = ""
        for character in name {
            if character.isUppercase {
                out += "_" + character.lowercased()
            } else {
                out.append(character)
            }
        }
        return out
    }
}
