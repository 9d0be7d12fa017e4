import Foundation
import RMMProtocol

/// A fast path for the lines of the streamed batch answers (`/batches/{id}/events` and
/// `/results`): a command (full or brief), a piece of output, or the end.
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
        switch (line.command, line.brief, line.output, line.end) {
        case (let command?, nil, nil, nil):
            guard command.events == nil else { return nil }
            name = "{\"command\":{"
            write(command, into: &object)
        case (nil, let brief?, nil, nil):
            name = "{\"brief\":{"
            if let agent = brief.agent { object.string("agent", agent) }
            object.string("agent_id", brief.agentId)
            if let exitCode = brief.exitCode { object.integer("exit_code", Int(exitCode)) }
            object.string("id", brief.id)
            if let reason = brief.reason { object.string("reason", reason) }
            object.string("state", brief.state.rawValue)
        case (nil, nil, let output?, nil):
            name = "{\"output\":{"
            if let agent = output.agent { object.string("agent", agent) }
            object.string("command_id", output.commandId)
            object.data("data", output.data)
            object.integer("offset", output.offset)
            object.string("stream", output.stream.rawValue)
        case (nil, nil, nil, let end?):
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

    /// The line, if `data` is one in the plain shape `encode` writes (keys in its order) and
    /// Foundation's decoder would read it as it is; nil otherwise (decode it the general way).
    package static func decode(_ data: Data) -> BatchStreamLine? {
        data.withUnsafeBytes { bytes in
            var reader = FastJSONReader(bytes: bytes)
            let line: BatchStreamLine?
            if reader.take("{\"command\":{") {
                var fields = FastJSONOrderedFields(reader)
                line = fields.commandView().map { BatchStreamLine(command: $0) }
                guard fields.end() else { return nil }
                reader = fields.reader
            } else if reader.take("{\"brief\":{") {
                var fields = FastJSONOrderedFields(reader)
                line = fields.commandBrief().map { BatchStreamLine(brief: $0) }
                guard fields.end() else { return nil }
                reader = fields.reader
            } else if reader.take("{\"output\":{") {
                var fields = FastJSONOrderedFields(reader)
                line = fields.outputView().map { BatchStreamLine(output: $0) }
                guard fields.end() else { return nil }
                reader = fields.reader
            } else if reader.take("{\"end\":{") {
                var fields = FastJSONOrderedFields(reader)
                line = fields.streamEnd().map { BatchStreamLine(end: $0) }
                guard fields.end() else { return nil }
                reader = fields.reader
            } else {
                return nil
            }
            guard let line, reader.take("}"), reader.atEnd else { return nil }
            return line
        }
    }
}

/// The values of a batch line's object, in `encode`'s key order.
private extension FastJSONOrderedFields {
    mutating func commandView() -> CommandView? {
        let agent = optional("agent") { $0.string() }, agentId = required("agent_id") { $0.string() }
        let batchId = required("batch_id") { $0.string() }, createdAt = required("created_at") { $0.internetDate() }
        let createdBy = required("created_by") { $0.string() }, exitCode = optional("exit_code") { $0.int32() }
        let expiresAt = required("expires_at") { $0.internetDate() }, id = required("id") { $0.string() }
        let interpreter = optional("interpreter") { $0.string() }
        let kind = required("kind") { $0.string().flatMap(CommandSpec.Kind.init(rawValue:)) }
        let reason = optional("reason") { $0.string() }, signal = optional("signal") { $0.int32() }
        let state = required("state") { $0.string().flatMap(CommandState.init(rawValue:)) }
        let stderr = optional("stderr") { $0.string() }, stderrTruncated = required("stderr_truncated") { $0.bool() }
        let stdout = optional("stdout") { $0.string() }, stdoutTruncated = required("stdout_truncated") { $0.bool() }
        let terminal = required("terminal") { $0.bool() }, text = required("text") { $0.string() }
        let timeoutSeconds = required("timeout_seconds") { $0.number() }, updatedAt = required("updated_at") { $0.internetDate() }
        guard let agentId, let batchId, let createdAt, let createdBy, let expiresAt, let id, let kind, let state,
              let stderrTruncated, let stdoutTruncated, let terminal, let text, let timeoutSeconds, let updatedAt else { return nil }
        return CommandView(
            id: id, agentId: agentId, agent: agent, batchId: batchId, kind: kind, text: text, interpreter: interpreter, state: state,
            terminal: terminal, reason: reason, exitCode: exitCode, signal: signal, createdAt: createdAt, updatedAt: updatedAt,
            expiresAt: expiresAt, timeoutSeconds: timeoutSeconds, createdBy: createdBy, stdoutTruncated: stdoutTruncated,
            stderrTruncated: stderrTruncated, stdout: stdout, stderr: stderr
        )
    }

    mutating func commandBrief() -> CommandBrief? {
        let agent = optional("agent") { $0.string() }, agentId = required("agent_id") { $0.string() }
        let exitCode = optional("exit_code") { $0.int32() }, id = required("id") { $0.string() }
        let reason = optional("reason") { $0.string() }
        let state = required("state") { $0.string().flatMap(CommandState.init(rawValue:)) }
        guard let agentId, let id, let state else { return nil }
        return CommandBrief(id: id, agentId: agentId, agent: agent, state: state, exitCode: exitCode, reason: reason)
    }

    mutating func outputView() -> OutputView? {
        let agent = optional("agent") { $0.string() }
        let commandId = required("command_id") { $0.string() }, data = required("data") { $0.base64() }
        let offset = required("offset") { $0.integer() }, stream = required("stream") { $0.string().flatMap(StdStream.init(rawValue:)) }
        guard let commandId, let data, let offset, let stream else { return nil }
        return OutputView(agent: agent, commandId: commandId, stream: stream, offset: offset, data: data)
    }

    mutating func streamEnd() -> BatchStreamEnd? {
        let commands = required("commands") { $0.integer() }, done = required("done") { $0.bool() }
        let version = required("version") { $0.integer() }
        guard let commands, let done, let version else { return nil }
        return BatchStreamEnd(version: version, done: done, commands: commands)
    }
}
