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
        var body = FastJSONObjectWriter()
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
        var fields = FastJSONFields(bytes: bytes, ranges: body)
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
}

/// The values of the four command messages' bodies.
private extension FastJSONFields {
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
