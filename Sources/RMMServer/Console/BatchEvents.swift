import Foundation
import Hummingbird
import NIOCore
import RMMAPI
import RMMProtocol
import RMMStore

/// `GET /events/batches/:id?after=v`: a server-sent event stream of a batch's changes after
/// change version `v` (the version its page was rendered at): `command` events (state, exit,
/// reason), `output` events (a chunk's text with its byte offset, so the page appends each byte
/// once), and a final `summary` when every command has ended. Only the rows the page shows are
/// streamed (its first `AgentPages.commandLimit` commands, each stream up to the
/// `AgentPages.outputBytes` it displays), read a store page at a time: a batch of 10,000 agents
/// costs the stream what fifty cost. It waits on the change feed (which
/// other nodes' changes reach on a cluster) and reads the store after each wake; each write is
/// awaited before the next read, so a slow browser holds at most one read's events.
struct BatchEvents: Sendable {
    let core: ServerCore
    let slots: ConsoleStreamSlots
    /// The longest wait between reads when nothing wakes the feed.
    var wait: Duration = .seconds(5)
    /// The longest the stream stays silent.
    var keepAliveAfter: Duration = .seconds(15)

    struct CommandChange: Encodable {
        var id: String
        var state: String
        var exit: String
        var reason: String
    }

    struct OutputChange: Encodable {
        var id: String
        var stream: String
        var offset: Int
        var bytes: Int
        var text: String
    }

    func stream(_ request: Request, _ context: OperatorContext) async throws -> Response {
        guard let session = context.consoleSession else { throw RequestError(401, "no console session") }
        let id = try context.parameters.require("id")
        let after = try request.queryInteger("after", in: 0...Int.max, fallback: 0)
        guard try await core.store.batchTopVersion(batchId: id) != nil else { throw RequestError(404, "batch \(id) not found") }
        guard let lease = slots.lease(session.id) else {
            throw RequestError(429, "this session already has \(slots.perSession) live views open; close a tab")
        }
        let live = ConsoleStreamSession(request)
        let body = ResponseBody { writer in
            // Held for as long as the body runs; dropped with it on every path.
            _ = lease
            var version = after
            var quietSince = ContinuousClock.now
            try await writer.write(ByteBuffer(string: "retry: 5000\n\n"))
            while !Task.isCancelled {
                guard try await live.isLive(core.store, now: Date()) else {
                    try await writer.write(ByteBuffer(string: ConsoleStreamSession.endedEvent))
                    break
                }
                let seen = core.feed.current
                // Counted before the top version is read, so the summary never comes ahead of the last changes.
                let pending = try await core.store.batchPendingCount(batchId: id)
                let top = max(version, try await core.store.batchTopVersion(batchId: id) ?? version)
                var out = ""
                // The rows the page shows (the batch's first commands), read once a wake when
                // something changed or the batch is done: only their changes are sent.
                let shown = top > version || pending == 0
                    ? try await core.store.batchCommands(batchId: id, afterRow: 0, limit: AgentPages.commandLimit).map(\.record) : []
                if top > version {
                    out = try await changes(shown, versions: OutputVersions(after: version, through: top))
                    version = top
                }
                if pending == 0 {
                    let summary = try await core.batchWaits.summary(batchId: id, wait: 0)
                    out += ServerSentEvent.event("summary", ["text": BatchSummaryText.describe(summary, commands: shown)])
                }
                // A batch waiting on an offline agent can be quiet for hours: a comment line now and
                // then keeps proxies from cutting the stream, and a write is how a closed tab is noticed.
                if out.isEmpty, ContinuousClock.now - quietSince >= keepAliveAfter { out = ": keep-alive\n\n" }
                if !out.isEmpty {
                    try await writer.write(ByteBuffer(string: out))
                    quietSince = ContinuousClock.now
                }
                if pending == 0 || core.feed.isStopped { break }
                await core.feed.wait(after: seen, timeout: wait)
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"], body: body)
    }

    /// The `command` and `output` events of the shown commands' changes in `versions`, their output
    /// only up to what the page shows.
    private func changes(_ shown: [CommandRecord], versions: OutputVersions) async throws -> String {
        var out = ""
        for command in shown where command.version > versions.after && command.version <= versions.through {
            let row = AgentPages.commandRow(CommandView(command, agentName: nil, textLimit: 0))
            out += ServerSentEvent.event("command", CommandChange(id: command.id, state: row["state"] ?? "", exit: row["exit"] ?? "", reason: row["reason"] ?? ""))
        }
        let ids = shown.map(\.id).sorted()
        var cursor: OutputCursor?
        while !ids.isEmpty {
            let page = try await core.store.outputChunks(commandIds: ids, after: cursor, versions: versions,
                                                          limit: Self.chunkPage, maxBytes: AgentPages.outputBytes, belowOffset: AgentPages.outputBytes)
            for chunk in page.chunks {
                // A chunk that starts below the page's limit may run past it: only its shown part goes.
                let data = chunk.data.prefix(max(0, AgentPages.outputBytes - chunk.offset))
                out += ServerSentEvent.event("output", OutputChange(id: chunk.commandId, stream: chunk.stream.rawValue, offset: chunk.offset, bytes: data.count,
                                                                    text: String(decoding: data, as: UTF8.self)))
            }
            guard page.more, let last = page.chunks.last else { break }
            cursor = OutputCursor(after: last)
        }
        return out
    }

    /// Output chunks read per store query.
    static let chunkPage = 1024
}
