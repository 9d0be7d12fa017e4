import Foundation
import RMMProtocol

/// A fast path for the lines of the streamed batch answers (`/batches/{id}/events` and
/// `/results`): a command, a piece of output, or the end.
///
/// Why: at 10,000 agents a `run --all` streams ~20,000 lines, and Foundation's JSON coders spent
/// about 30 µs on each in the server and again in the CLI — most of what the CLI added to the
/// fan-out's time. Like the agent wire's `CommandWire`, this writes exactly the bytes
/// `APICoding.encoder()` would (sorted snake_case keys, nil fields left out, ISO 8601 dates,
/// data as base64), and reads back only that plain shape. Anything else — an escaped string,
/// a date outside 1970–9999, a key it does not expect, a history list — makes it answer nil and
/// the caller uses Foundation, so the two always agree (asserted by the codec tests, on damaged
/// lines too).
package enum BatchLineCodec {
    /// The line's JSON (without its newline), or nil when only Foundation's encoder can write it.
    package static func encode(_ line: BatchStreamLine) -> [UInt8]? {
        var object = FastJSONObjectWriter(capacity: 512)
        let name: StaticString
        switch (line.command, line.output, line.end) {
        case (let command?, nil, nil):
            guard command.events == nil else { return nil }
            name = "{\"command\":{"
            write(command, into: &object)
        case (nil, let output?, nil):
            name = "{\"output\":{"
            object.string("command_id", output.commandId)
            object.data("data", output.data)
            object.integer("offset", output.offset)
            object.string("stream", output.stream.rawValue)
        case (nil, nil, let end?):
            name = "{\"end\":{"
            object.integer("commands", end.commands)
            object.bool("done", end.done)
            object.integer("version", end.version)
        default:
            return nil
        }
        guard !object.failed else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(object.bytes.count + 16)
        name.withUTF8Buffer { out.append(contentsOf: $0) }
        out.append(contentsOf: object.bytes)
        out.append(contentsOf: "}}".utf8)
        return out
    }

    private static func write(_ view: CommandView, into object: inout FastJSONObjectWriter) {
        if let agent = view.agent { object.string("agent", agent) }
        object.string("agent_id", view.agentId)
        object.string("batch_id", view.batchId)
        object.date("created_at", view.createdAt)
        object.string("created_by", view.createdBy)
        if let exitCode = view.exitCode { object.integer("exit_code", Int(exitCode)) }
        object.date("expires_at", view.expiresAt)
        object.string("id", view.id)
        if let interpreter = view.interpreter { object.string("interpreter", interpreter) }
        object.string("kind", view.kind.rawValue)
        if let reason = view.reason { object.string("reason", reason) }
        if let signal = view.signal { object.integer("signal", Int(signal)) }
        object.string("state", view.state.rawValue)
        if let stderr = view.stderr { object.string("stderr", stderr) }
        object.bool("stderr_truncated", view.stderrTruncated)
        if let stdout = view.stdout { object.string("stdout", stdout) }
        object.bool("stdout_truncated", view.stdoutTruncated)
        object.bool("terminal", view.terminal)
        object.string("text", view.text)
        object.double("timeout_seconds", view.timeoutSeconds)
        object.date("updated_at", view.updatedAt)
    }

    /// The line, if `data` is one in the plain shape `encode` writes and Foundation's decoder
    /// would read it as it is; nil otherwise (decode it the general way).
    package static func decode(_ data: Data) -> BatchStreamLine? {
        data.withUnsafeBytes { bytes in
            var reader = FastJSONReader(bytes: bytes)
            let kind: Kind
            if reader.take("{\"command\":") {
                kind = .command
            } else if reader.take("{\"output\":") {
                kind = .output
            } else if reader.take("{\"end\":") {
                kind = .end
            } else {
                return nil
            }
            guard let ranges = reader.flatObject(), !reader.failed, reader.take("}"), reader.atEnd else { return nil }
            var fields = FastJSONFields(bytes: bytes, ranges: ranges)
            let line: BatchStreamLine?
            switch kind {
            case .command: line = fields.commandView().map { BatchStreamLine(command: $0) }
            case .output: line = fields.outputView().map { BatchStreamLine(output: $0) }
            case .end: line = fields.streamEnd().map { BatchStreamLine(end: $0) }
            }
            guard let line, fields.allRead else { return nil }
            return line
        }
    }

    private enum Kind { case command, output, end }
}

/// The values of a batch line's object.
private extension FastJSONFields {
    mutating func commandView() -> CommandView? {
        let agent = string("agent", required: false), agentId = string("agent_id"), batchId = string("batch_id")
        let createdAt = date("created_at"), createdBy = string("created_by"), exitCode = int32("exit_code", required: false)
        let expiresAt = date("expires_at"), id = string("id"), interpreter = string("interpreter", required: false)
        let kind = string("kind").flatMap(CommandSpec.Kind.init(rawValue:)), reason = string("reason", required: false)
        let signal = int32("signal", required: false), state = string("state").flatMap(CommandState.init(rawValue:))
        let stderr = string("stderr", required: false), stderrTruncated = bool("stderr_truncated")
        let stdout = string("stdout", required: false), stdoutTruncated = bool("stdout_truncated")
        let terminal = bool("terminal"), text = string("text"), timeoutSeconds = double("timeout_seconds")
        let updatedAt = date("updated_at")
        guard !failed, let agentId, let batchId, let createdAt, let createdBy, let expiresAt, let id, let kind, let state,
              let stderrTruncated, let stdoutTruncated, let terminal, let text, let timeoutSeconds, let updatedAt else { return nil }
        return CommandView(
            id: id, agentId: agentId, agent: agent, batchId: batchId, kind: kind, text: text, interpreter: interpreter, state: state,
            terminal: terminal, reason: reason, exitCode: exitCode, signal: signal, createdAt: createdAt, updatedAt: updatedAt,
            expiresAt: expiresAt, timeoutSeconds: timeoutSeconds, createdBy: createdBy, stdoutTruncated: stdoutTruncated,
            stderrTruncated: stderrTruncated, stdout: stdout, stderr: stderr
        )
    }

    mutating func outputView() -> OutputView? {
        let commandId = string("command_id"), data = data("data"), offset = integer("offset")
        let stream = string("stream").flatMap(StdStream.init(rawValue:))
        guard !failed, let commandId, let data, let offset, let stream else { return nil }
        return OutputView(commandId: commandId, stream: stream, offset: offset, data: data)
    }

    mutating func streamEnd() -> BatchStreamEnd? {
        let commands = integer("commands"), done = bool("done"), version = integer("version")
        guard !failed, let commands, let done, let version else { return nil }
        return BatchStreamEnd(version: version, done: done, commands: commands)
    }
}
