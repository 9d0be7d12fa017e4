import Foundation
import Hummingbird
import NIOCore
import RMMAPI
import RMMProtocol
import RMMStore

/// The streamed batch answers: a batch's changes (`/batches/{id}/events`) and its results
/// (`/batches/{id}/results`), written as NDJSON page by page from the store. A request holds one
/// page of commands and about 1 MiB of output (plus one chunk, or in `results` one command's whole
/// output), never the batch, however many agents or bytes it has.
enum BatchStreams {
    /// Commands per store page.
    static let commandPage = 500
    /// Output chunks per store read (a chunk is at most the agent's chunk size, 1 MiB at most,
    /// or one missing tail the result carried).
    static let chunkPage = 4096
    /// Output bytes per store read: a read holds at most this plus one chunk. Each read costs the
    /// server about 0.1 ms of CPU beside its rows, so the reads are as few as memory allows: one
    /// for a page of commands whose output is small.
    static let outputBytesPerRead = 1 << 20
    /// Unfinished commands from which an events stream waits 20 ms after a change before reading:
    /// below it each change is sent at once.
    static let coalesceFrom = 100
    /// Unfinished commands from which an events stream reads what changed only every
    /// `spreadReadsEvery` until the batch is done (it still counts the unfinished ones every
    /// round, as the summary's long-poll does, so the end is seen as soon). Read every 20 ms, a
    /// 10,000-agent fan-out had each command read about four times, once per intermediate state,
    /// and the stream cost the server a quarter more CPU than the fan-out itself.
    static let spreadReadsFrom = 1000
    /// How often a stream of a big batch reads what changed: each command is read about once.
    static let spreadReadsEvery = Duration.milliseconds(250)

    /// Whether a round of an events stream reads what changed, with `pending` commands unfinished.
    static func readsNow(pending: Int, lastRead: ContinuousClock.Instant, now: ContinuousClock.Instant) -> Bool {
        pending < spreadReadsFrom || now - lastRead >= spreadReadsEvery
    }

    /// The response of `/batches/{id}/events`: every change after `after`, then, until the batch
    /// is done or `wait` seconds passed, each change as it is stored; the last line says up to
    /// which version the answer went and whether the batch is done.
    /// With `terminalOnly`, only commands that have ended get a command line (the CLI needs no
    /// intermediate states: a quarter of the lines of a fan-out).
    /// With `view` compact, commands are `brief` lines and output lines name their agent.
    static func events(_ core: ServerCore, batchId: String, after: Int, wait: Double, output: Bool, terminalOnly: Bool,
                       view: BatchStreamView = .full) async throws -> Response {
        guard try await core.store.batchTopVersion(batchId: batchId) != nil else { throw RequestError(404, "batch \(batchId) not found") }
        let body = ResponseBody { writer in
            var lines = NDJSONLines()
            let deadline = ContinuousClock.now + .milliseconds(Int(wait * 1000))
            var after = after
            var written = 0
            // A big batch's first read waits too: just after a POST every command is unfinished.
            var lastRead = ContinuousClock.now
            while true {
                let seen = core.feed.current
                // Counted before the top version is read: when all is terminal now, everything up
                // to `top` includes every last state and output, so `done` never comes ahead of them.
                let pending = try await core.store.batchPendingCount(batchId: batchId)
                let done = pending == 0
                let remaining = deadline - ContinuousClock.now
                let finishing = done || remaining <= .zero || core.feed.isStopped
                if finishing || Self.readsNow(pending: pending, lastRead: lastRead, now: ContinuousClock.now) {
                    lastRead = ContinuousClock.now
                    let top = try await core.store.batchTopVersion(batchId: batchId) ?? after
                    if top > after {
                        written += try await changes(core, batchId: batchId, versions: OutputVersions(after: after, through: top), output: output,
                                                     terminalOnly: terminalOnly, view: view, into: &lines, writer: &writer)
                    }
                    after = max(after, top)
                }
                // A shutting-down server answers with what it has.
                if finishing {
                    try lines.append(BatchStreamLine(end: BatchStreamEnd(version: after, done: done, commands: written)))
                    try await lines.flush(to: &writer)
                    break
                }
                // Sent before waiting: the client prints output as it arrives.
                try await lines.flush(to: &writer)
                // A round that did not read may have left changes unread: the wait ends when the
                // read is due even if nothing changes after them.
                let untilRead = lastRead + Self.spreadReadsEvery - ContinuousClock.now
                await core.feed.wait(after: seen, timeout: pending >= Self.spreadReadsFrom ? min(remaining, max(untilRead, .zero)) : remaining)
                // A big fan-out bumps the feed once per report: take them in rounds of 20 ms, not one
                // by one (each round counts the unfinished commands, and reads what changed when due).
                if pending >= Self.coalesceFrom { try? await Task.sleep(for: .milliseconds(20)) }
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "application/x-ndjson"], body: body)
    }

    /// Writes the commands changed in `versions` (their state when read) and the output stored in
    /// `versions`, a page of commands and then their output at a time; returns how many command
    /// lines it wrote. A command changed again after `versions.through` is left to the next round
    /// (its output up to `through` is written now, the rest then), so none is written twice.
    private static func changes(
        _ core: ServerCore, batchId: String, versions: OutputVersions, output: Bool, terminalOnly: Bool, view: BatchStreamView,
        into lines: inout NDJSONLines, writer: inout any ResponseBodyWriter
    ) async throws -> Int {
        var written = 0
        // A command whose output is stored while the round pages moves to a later version and
        // comes round again on a later page: its output in the window is written once.
        var outputTaken = Set<String>()
        try await forEachChangedPage(core, batchId: batchId, after: versions.after) { page, names in
            for item in page where item.record.version <= versions.through && (!terminalOnly || item.record.state.isTerminal) {
                let name = names[item.record.agentId]
                switch view {
                case .full: try lines.append(BatchStreamLine(command: CommandView(item.record, agentName: name, textLimit: 200)))
                case .compact: try lines.append(BatchStreamLine(brief: CommandBrief(item.record, agentName: name)))
                }
                written += 1
                try await lines.flushIfFull(to: &writer)
            }
            guard output else { return }
            let fresh = page.map(\.record.id).filter { outputTaken.insert($0).inserted }
            // A compact stream names each output's agent: its client need not know the batch's commands.
            let agentOf = view == .compact ? Dictionary(page.map { ($0.record.id, names[$0.record.agentId] ?? $0.record.agentId) },
                                                        uniquingKeysWith: { first, _ in first }) : [:]
            try await forEachChunk(core, commandIds: fresh, versions: versions) { chunk in
                try lines.append(BatchStreamLine(output: OutputView(agent: agentOf[chunk.commandId], commandId: chunk.commandId, stream: chunk.stream,
                                                                    offset: chunk.offset, data: chunk.data)))
                try await lines.flushIfFull(to: &writer)
            }
        }
        return written
    }

    /// The batch's commands changed after `after` (any later change included: their output in a
    /// window may belong to a command changed since), a store page at a time, with agent names.
    private static func forEachChangedPage(
        _ core: ServerCore, batchId: String, after: Int, _ body: ([PositionedCommand], [String: String]) async throws -> Void
    ) async throws {
        var position: BatchPosition?
        while true {
            let page = try await core.store.batchChangedCommands(batchId: batchId, after: after, from: position, limit: commandPage)
            try await body(page, try await core.store.agentNames(ids: page.map(\.record.agentId)))
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
            if top > after || done || remaining <= .zero || core.feed.isStopped { break }
            await core.feed.wait(after: seen, timeout: remaining)
        }
        let versions = OutputVersions(after: after, through: top)
        let finished = done, through = top
        let body = ResponseBody { writer in
            var text = JSONPieces()
            text.raw("{\"commands\":[")
            if through > after {
                try await forEachChangedPage(core, batchId: batchId, after: after) { page, names in
                    for item in page where item.record.version <= through {
                        try text.item(CommandView(item.record, agentName: names[item.record.agentId], textLimit: 200))
                        try await text.flushIfFull(to: &writer)
                    }
                }
            }
            text.raw("],\"done\":\(finished),\"output\":[")
            text.restartList()
            if through > after {
                // As in `changes`: a command met again on a later page has had its output written.
                var outputTaken = Set<String>()
                try await forEachChangedPage(core, batchId: batchId, after: after) { page, _ in
                    let fresh = page.map(\.record.id).filter { outputTaken.insert($0).inserted }
                    try await forEachChunk(core, commandIds: fresh, versions: versions) { chunk in
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
                var outputs: [WholeOutput] = [], next = 0
                for (index, item) in page.enumerated() {
                    var view = CommandView(item.record, agentName: names[item.record.agentId])
                    if output {
                        // Whole outputs for the next commands, as many as one read's bytes allow.
                        if next == outputs.count {
                            outputs = try await core.store.commandOutputs(commandIds: page[index...].map(\.record.id), maxBytes: Self.outputBytesPerRead)
                            next = 0
                        }
                        guard next < outputs.count, outputs[next].commandId == item.record.id else {
                            throw StoreError.corrupt("no output read for command \(item.record.id)")
                        }
                        let whole = outputs[next]
                        next += 1
                        view.stdout = String(decoding: whole.stdout, as: UTF8.self)
                        view.stderr = String(decoding: whole.stderr, as: UTF8.self)
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

    /// The chunks of these commands stored in `versions`, each stream in offset order, in as few
    /// reads as `outputBytesPerRead` allows.
    private static func forEachChunk(
        _ core: ServerCore, commandIds: [String], versions: OutputVersions, _ body: (OutputChunk) async throws -> Void
    ) async throws {
        // Chunks come in command id order: each read is given only the ids from its cursor's on,
        // so no read looks up the ids an earlier read has finished with.
        let ids = commandIds.sorted()
        var start = 0
        var cursor: OutputCursor?
        while start < ids.count {
            let page = try await core.store.outputChunks(commandIds: Array(ids[start...]), after: cursor, versions: versions,
                                                          limit: chunkPage, maxBytes: outputBytesPerRead)
            for chunk in page.chunks { try await body(chunk) }
            guard page.more, let last = page.chunks.last else { return }
            cursor = OutputCursor(after: last)
            while start < ids.count && ids[start] < last.commandId { start += 1 }
        }
    }
}
