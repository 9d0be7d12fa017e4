import Foundation

/// A fast path for the messages every command is made of: the command itself, and the agent's
/// ack, start and result.
///
/// Why: in a fan-out, Foundation's JSON coders (generic containers, key conversion) were a tenth of
/// the server's CPU and a third of the simulator's. Like `HeartbeatWire`, this writes the JSON
/// `WireCodec`'s general encoder would (sorted keys, nil fields left out, data as base64) and reads
/// back only the plain shape: a body of known keys with string, number and boolean values, no
/// whitespace, escapes, nulls, exponents or repeated keys, and nothing the general decoder would
/// refuse. Anything else makes `decode` answer nil and the general decoder judges the frame, so
/// the two can only agree (asserted by the codec tests, including on damaged frames).
enum CommandWire {
    /// The frame for a command, ack, start or result; nil for other messages or for a value only
    /// the general encoder handles (a number JSON cannot hold).
    static func encode(_ envelope: Envelope) -> Data? {
        var body = BodyWriter()
        switch envelope.message {
        case .command(let command):
            body.string("command_id", command.commandId)
            body.integer("expires_at", command.expiresAt)
            if let interpreter = command.interpreter { body.string("interpreter", interpreter) }
            body.string("kind", command.kind.rawValue)
            if let signature = command.signature { body.string("signature", signature) }
            body.string("text", command.text)
            body.double("timeout_seconds", command.timeoutSeconds)
        case .commandAck(let ack):
            body.string("command_id", ack.commandId)
            body.bool("duplicate", ack.duplicate)
        case .started(let started):
            body.string("command_id", started.commandId)
            if let pid = started.pid { body.integer("pid", Int(pid)) }
            body.double("time", started.time)
        case .result(let result):
            body.string("command_id", result.commandId)
            if let exitCode = result.exitCode { body.integer("exit_code", Int(exitCode)) }
            body.double("finished_at", result.finishedAt)
            if let reason = result.reason { body.string("reason", reason) }
            if let signal = result.signal { body.integer("signal", Int(signal)) }
            if let startedAt = result.startedAt { body.double("started_at", startedAt) }
            body.string("status", result.status.rawValue)
            body.data("stderr", result.stderr)
            body.bool("stderr_truncated", result.stderrTruncated)
            body.data("stdout", result.stdout)
            body.bool("stdout_truncated", result.stdoutTruncated)
        default:
            return nil
        }
        guard !body.failed else { return nil }
        return fastEnvelopeFrame(type: envelope.message.type, seq: envelope.seq, ack: envelope.ack, version: envelope.version,
                                 capacity: body.bytes.count + 64) { $0.append(contentsOf: body.bytes) }
    }

    /// The envelope, if `bytes` is a command, ack, start or result frame in the plain shape and
    /// the general decoder would accept it as it is; nil otherwise (decode it the general way).
    static func decode(_ bytes: UnsafeRawBufferPointer) -> Envelope? {
        var reader = FastJSONReader(bytes: bytes)
        var version: Int?, type: String?, seq: Int?, ack: Int?, body: [String: Range<Int>]?
        guard reader.take("{") else { return nil }
        repeat {
            guard let key = reader.key(limit: 4) else { return nil }
            // Every value must read, and every key appear once: a second try at a key could
            // accept what the general decoder (which sees the first) refuses.
            switch key {
            case "v" where version == nil: version = reader.integer()
            case "t" where type == nil: type = reader.string()
            case "seq" where seq == nil: seq = reader.integer()
            case "ack" where ack == nil: ack = reader.integer()
            case "body" where body == nil: body = reader.flatObject()
            default: return nil
            }
            guard !reader.failed, key != "body" || body != nil else { return nil }
        } while reader.take(",")
        guard reader.take("}"), reader.atEnd, let version, let type, let body, let seq else { return nil }
        // What the general decoder refuses, it must refuse (with its own words): leave it to it.
        guard version == WireLimits.protocolVersion, seq >= 1, ack.map({ $0 >= 0 }) ?? true else { return nil }
        var fields = Fields(bytes: bytes, ranges: body)
        let message: Message?
        switch type {
        case "command": message = fields.command().map(Message.command)
        case "command_ack": message = fields.ack().map(Message.commandAck)
        case "started": message = fields.started().map(Message.started)
        case "result": message = fields.result().map(Message.result)
        default: return nil
        }
        guard let message, fields.allRead else { return nil }
        return Envelope(message, seq: seq, ack: ack, version: version)
    }

    /// A body's fields, written in sorted key order.
    private struct BodyWriter {
        var bytes: [UInt8] = []
        var failed = false

        private mutating func key(_ key: String) {
            if !bytes.isEmpty { bytes.append(UInt8(ascii: ",")) }
            bytes.append(ascii: "\"\(key)\":")
        }

        mutating func string(_ name: String, _ value: String) {
            key(name)
            bytes.append(json: value)
        }

        mutating func integer(_ name: String, _ value: Int) {
            key(name)
            bytes.append(integer: value)
        }

        /// A value JSON cannot hold fails the fast path.
        mutating func double(_ name: String, _ value: Double) {
            guard value.isFinite else {
                failed = true
                return
            }
            key(name)
            bytes.append(double: value)
        }

        mutating func bool(_ name: String, _ value: Bool) {
            key(name)
            bytes.append(ascii: value ? "true" : "false")
        }

        /// Base64, as Foundation's default data strategy writes it.
        mutating func data(_ name: String, _ value: Data) {
            key(name)
            bytes.append(UInt8(ascii: "\""))
            bytes.append(contentsOf: value.base64EncodedString().utf8)
            bytes.append(UInt8(ascii: "\""))
        }
    }

    /// A body's values by key, read with the type each message gives the key; each read counts,
    /// so a key no message field takes (which the general decoder would skip) can be declined.
    private struct Fields {
        let bytes: UnsafeRawBufferPointer
        let ranges: [String: Range<Int>]
        private var read = 0
        private(set) var failed = false

        init(bytes: UnsafeRawBufferPointer, ranges: [String: Range<Int>]) {
            self.bytes = bytes
            self.ranges = ranges
        }

        /// Every key present was read, and every read succeeded.
        var allRead: Bool { !failed && read == ranges.count }

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

        mutating func string(_ key: String, required: Bool = true) -> String? { value(key, required: required) { $0.string() } }
        mutating func integer(_ key: String, required: Bool = true) -> Int? { value(key, required: required) { $0.integer() } }
        mutating func int32(_ key: String, required: Bool = true) -> Int32? { value(key, required: required) { $0.int32() } }
        mutating func double(_ key: String, required: Bool = true) -> Double? { value(key, required: required) { $0.number() } }
        mutating func bool(_ key: String) -> Bool? { value(key, required: true) { $0.bool() } }
        mutating func data(_ key: String) -> Data? { value(key, required: true) { $0.string().flatMap { Data(base64Encoded: $0) } } }

        mutating func command() -> CommandSpec? {
            let commandId = string("command_id"), expiresAt = integer("expires_at")
            let interpreter = string("interpreter", required: false), kind = string("kind").flatMap(CommandSpec.Kind.init(rawValue:))
            let signature = string("signature", required: false), text = string("text")
            let timeout = double("timeout_seconds")
            guard !failed, let commandId, let kind, let text, let timeout, let expiresAt else { return nil }
            return CommandSpec(commandId: commandId, kind: kind, text: text, interpreter: interpreter, timeoutSeconds: timeout,
                               expiresAt: expiresAt, signature: signature)
        }

        mutating func ack() -> CommandAck? {
            let commandId = string("command_id"), duplicate = bool("duplicate")
            guard !failed, let commandId, let duplicate else { return nil }
            return CommandAck(commandId: commandId, duplicate: duplicate)
        }

        mutating func started() -> CommandStarted? {
            let commandId = string("command_id"), pid = int32("pid", required: false), time = double("time")
            guard !failed, let commandId, let time else { return nil }
            return CommandStarted(commandId: commandId, pid: pid, time: time)
        }

        mutating func result() -> CommandResult? {
            let commandId = string("command_id"), exitCode = int32("exit_code", required: false), finishedAt = double("finished_at")
            let reason = string("reason", required: false), signal = int32("signal", required: false)
            let startedAt = double("started_at", required: false), status = string("status").flatMap(CommandState.init(rawValue:))
            let stderr = data("stderr"), stderrTruncated = bool("stderr_truncated")
            let stdout = data("stdout"), stdoutTruncated = bool("stdout_truncated")
            guard !failed, let commandId, let finishedAt, let status, let stderr, let stderrTruncated, let stdout, let stdoutTruncated else {
                return nil
            }
            return CommandResult(commandId: commandId, status: status, exitCode: exitCode, signal: signal, reason: reason, stdout: stdout,
                                 stderr: stderr, stdoutTruncated: stdoutTruncated, stderrTruncated: stderrTruncated,
                                 startedAt: startedAt, finishedAt: finishedAt)
        }
    }
}

extension FastJSONReader {
    /// An object of scalar values (a string without escapes, a number, a boolean) and the byte
    /// range of each value by key; nil for anything nested, a null, or a repeated key.
    mutating func flatObject() -> [String: Range<Int>]? {
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
