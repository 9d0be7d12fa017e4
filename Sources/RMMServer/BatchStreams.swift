import Foundation
import Hummingbird
import NIOCore
import RMMProtocol
import RMMStore

/// The streamed batch answers: a batch's changes (`/batches/{id}/events`) and its results
/// (`/batches/{id}/results`), written as NDJSON page by page from the store. A request holds one
/// page (and one command's output at most), never the batch, however many agents or bytes it has.
enum BatchStreams {
    /// Commands per store page.
    static let commandPage = 500
    /// Output chunks per store page (a chunk is at most the agent's chunk size, 1 MiB at most,
    /// or one missing tail the result carried).
    static let chunkPage = 16

    /// The response of `/batches/{id}/events`: every change after `after`, then, until the batch
    /// is done or `wait` seconds passed, each change as it is stored; the last line says up to
    /// which version the answer went and whether the batch is done.
    /// With `terminalOnly`, only commands that have ended get a command line (the CLI needs no
    /// intermediate states: a quarter of the lines of a fan-out).
    static func events(_ core: ServerCore, batchId: String, after: Int, wait: Double, output: Bool, terminalOnly: Bool) async throws -> Response {
        guard try await core.store.batchTopVersion(batchId: batchId) != nil else { throw RequestError(404, "batch \(batchId) not found") }
        let body = ResponseBody { writer in
            var lines = NDJSONLines()
            let deadline = ContinuousClock.now + .milliseconds(Int(wait * 1000))
            var after = after
            var written = 0
            while true {
                let seen = core.feed.current
                // Counted before the top version is read: when all is terminal now, everything up
                // to `top` includes every last state and output, so `done` never comes ahead of them.
                let done = try await core.store.batchPendingCount(batchId: batchId) == 0
                let top = try await core.store.batchTopVersion(batchId: batchId) ?? after
                var count = 0
                if top > after {
                    count = try await changes(core, batchId: batchId, versions: OutputVersions(after: after, through: top), output: output,
                                             terminalOnly: terminalOnly, into: &lines, writer: &writer)
                }
                written += count
                after = max(after, top)
                let remaining = deadline - ContinuousClock.now
                if done || remaining <= .zero {
                    try lines.append(BatchStreamLine(end: BatchStreamEnd(version: after, done: done, commands: written)))
                    try await lines.flush(to: &writer)
                    break
                }
                // Sent before waiting: the client prints output as it arrives.
                try await lines.flush(to: &writer)
                await core.feed.wait(after: seen, timeout: remaining)
                // A big fan-out bumps the feed once per result: take them in rounds, not one by one.
                if count >= 100 { try? await Task.sleep(for: .milliseconds(20)) }
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "application/x-ndjson"], body: body)
    }

    /// Writes the commands changed in `versions.after...` (their state when read) and the output
    /// stored in `versions`; returns how many commands it wrote. A command changed again while this
    /// runs moves to a later position and is written again; its newer output waits for the next round.
    private static func changes(
        _ core: ServerCore, batchId: String, versions: OutputVersions, output: Bool, terminalOnly: Bool,
        into lines: inout NDJSONLines, writer: inout any ResponseBodyWriter
    ) async throws -> Int {
        var written = 0
        try await forEachChanged(core, batchId: batchId, after: versions.after) { item, name in
            if !terminalOnly || item.record.state.isTerminal {
                try lines.append(BatchStreamLine(command: CommandView(item.record, agentName: name, textLimit: 200)))
                written += 1
            }
            if output {
                try await forEachChunk(core, commandId: item.record.id, versions: versions) { chunk in
                    try lines.append(BatchStreamLine(output: OutputView(commandId: chunk.commandId, stream: chunk.stream, offset: chunk.offset, data: chunk.data)))
                    try await lines.flushIfFull(to: &writer)
                }
            }
            try await lines.flushIfFull(to: &writer)
        }
        return written
    }

    /// Each command of the batch changed after `after`, a store page at a time, with its agent's name.
    private static func forEachChanged(
        _ core: ServerCore, batchId: String, after: Int, _ body: (PositionedCommand, String?) async throws -> Void
    ) async throws {
        var position: BatchPosition?
        while true {
            let page = try await core.store.batchChangedCommands(batchId: batchId, after: after, from: position, limit: commandPage)
            let names = try await core.store.agentNames(ids: page.map(\.record.agentId))
            for item in page { try await body(item, names[item.record.agentId]) }
            guard page.count == commandPage, let last = page.last else { return }
            position = last.position
        }
    }

    /// The answer of `/batches/{id}/changes` (one JSON object, `BatchChangesView`), written a page
    /// at a time: once something changed after `after`, the batch is done, or `wait` passed.
    static func changesObject(_ core: ServerCore, batchId: String, after: Int, wait: Double) async throws -> Response {
        guard try await core.store.batchTopVersion(batchId: batchId) != nil else { throw RequestError(404, "batch \(batchId) not found") }
        let deadline = ContinuousClock.now + .milliseconds(Int(wait * 1000))
        var done = false
        var top = after
        while true {
            let seen = core.feed.current
            // Counted before the top version is read, so `done` never comes ahead of the last changes.
            done = try await core.store.batchPendingCount(batchId: batchId) == 0
            top = max(after, try await core.store.batchTopVersion(batchId: batchId) ?? after)
            let remaining = deadline - ContinuousClock.now
            if top > after || done || remaining <= .zero { break }
            await core.feed.wait(after: seen, timeout: remaining)
        }
        let versions = OutputVersions(after: after, through: top)
        let finished = done, through = top
        let body = ResponseBody { writer in
            var text = JSONPieces()
            text.raw("{\"commands\":[")
            if through > after {
                try await forEachChanged(core, batchId: batchId, after: after) { item, name in
                    try text.item(CommandView(item.record, agentName: name, textLimit: 200))
                    try await text.flushIfFull(to: &writer)
                }
            }
            text.raw("],\"done\":\(finished),\"output\":[")
            text.restartList()
            if through > after {
                try await forEachChanged(core, batchId: batchId, after: after) { item, _ in
                    try await forEachChunk(core, commandId: item.record.id, versions: versions) { chunk in
                        try text.item(OutputView(commandId: chunk.commandId, stream: chunk.stream, offset: chunk.offset, data: chunk.data))
                        try await text.flushIfFull(to: &writer)
                    }
                }
            }
            text.raw("],\"version\":\(through)}")
            try await text.flush(to: &writer)
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"], body: body)
    }

    /// The response of `/batches/{id}/results`: every command of the batch in creation order (the
    /// order `POST /commands` listed them), each with its whole output so far, then the end line.
    static func results(_ core: ServerCore, batchId: String, output: Bool) async throws -> Response {
        guard try await core.store.batchTopVersion(batchId: batchId) != nil else { throw RequestError(404, "batch \(batchId) not found") }
        let body = ResponseBody { writer in
            var lines = NDJSONLines()
            let done = try await core.store.batchPendingCount(batchId: batchId) == 0
            let top = try await core.store.batchTopVersion(batchId: batchId) ?? 0
            var row: Int64 = 0
            var written = 0
            while true {
                let page = try await core.store.batchCommands(batchId: batchId, afterRow: row, limit: commandPage)
                let names = try await core.store.agentNames(ids: page.map(\.record.agentId))
                for item in page {
                    var view = CommandView(item.record, agentName: names[item.record.agentId])
                    if output {
                        view.stdout = try await wholeOutput(core, commandId: item.record.id, stream: .stdout)
                        view.stderr = try await wholeOutput(core, commandId: item.record.id, stream: .stderr)
                    }
                    try lines.append(BatchStreamLine(command: view))
                    written += 1
                    try await lines.flushIfFull(to: &writer)
                }
                guard page.count == commandPage, let last = page.last else { break }
                row = last.position.row
            }
            try lines.append(BatchStreamLine(end: BatchStreamEnd(version: top, done: done, commands: written)))
            try await lines.flush(to: &writer)
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "application/x-ndjson"], body: body)
    }

    /// One stream of one command, read a page of chunks at a time (bounded by the output cap).
    private static func wholeOutput(_ core: ServerCore, commandId: String, stream: StdStream) async throws -> String {
        var whole = Data()
        try await forEachChunk(core, commandId: commandId, stream: stream, versions: .all) { whole.append($0.data) }
        return String(decoding: whole, as: UTF8.self)
    }

    /// Both streams' chunks of one command in `versions`, stdout first, each in offset order.
    private static func forEachChunk(
        _ core: ServerCore, commandId: String, versions: OutputVersions, _ body: (OutputChunk) async throws -> Void
    ) async throws {
        try await forEachChunk(core, commandId: commandId, stream: .stdout, versions: versions, body)
        try await forEachChunk(core, commandId: commandId, stream: .stderr, versions: versions, body)
    }

    private static func forEachChunk(
        _ core: ServerCore, commandId: String, stream: StdStream, versions: OutputVersions, _ body: (OutputChunk) async throws -> Void
    ) async throws {
        var offset = 0
        while true {
            let chunks = try await core.store.outputChunks(commandId: commandId, stream: stream, fromOffset: offset, versions: versions, limit: chunkPage)
            for chunk in chunks {
                try await body(chunk)
                offset = chunk.offset + chunk.data.count
            }
            if chunks.count < chunkPage { return }
        }
    }
}

/// A JSON text written in pieces: raw punctuation and comma-separated encoded items.
struct JSONPieces {
    private var buffer = ByteBuffer()
    private var first = true
    private let encoder = APICoding.encoder()

    mutating func raw(_ text: String) { buffer.writeString(text) }

    /// The next item of the list being written.
    mutating func item<T: Encodable>(_ value: T) throws {
        if !first { buffer.writeInteger(UInt8(ascii: ",")) }
        first = false
        buffer.writeBytes(try encoder.encode(value))
    }

    /// The next `item` starts a new list.
    mutating func restartList() { first = true }

    mutating func flushIfFull(to writer: inout any ResponseBodyWriter) async throws {
        if buffer.readableBytes >= NDJSONLines.flushBytes { try await flush(to: &writer) }
    }

    mutating func flush(to writer: inout any ResponseBodyWriter) async throws {
        guard buffer.readableBytes > 0 else { return }
        try await writer.write(buffer)
        buffer = ByteBuffer()
    }
}

/// NDJSON lines gathered into one buffer and written to a response body about 64 KiB at a time.
struct NDJSONLines {
    static let flushBytes = 64 << 10
    private var buffer = ByteBuffer()
    private let encoder = APICoding.encoder()

    mutating func append<T: Encodable>(_ value: T) throws {
        buffer.writeBytes(try encoder.encode(value))
        buffer.writeInteger(UInt8(ascii: "\n"))
    }

    mutating func flushIfFull(to writer: inout any ResponseBodyWriter) async throws {
        if buffer.readableBytes >= Self.flushBytes { try await flush(to: &writer) }
    }

    mutating func flush(to writer: inout any ResponseBodyWriter) async throws {
        guard buffer.readableBytes > 0 else { return }
        try await writer.write(buffer)
        buffer = ByteBuffer()
    }
}
