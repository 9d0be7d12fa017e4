import Foundation
import Hummingbird
import NIOCore
import RMMAPI
import RMMProtocol
import RMMStore

/// `GET /events/batches/:id?after=v`: a server-sent event stream of a batch's changes after
/// change version `v` (the version its page was rendered at): `command` events (state, exit,
/// reason), `output` events (a chunk's text with its byte offset, so the page appends each byte
/// once), and a final `summary` when every command has ended. It waits on the change feed (which
/// other nodes' changes reach on a cluster) and reads the store after each wake; each write is
/// awaited before the next read, so a slow browser holds at most one read's events.
struct BatchEvents: Sendable {
    let core: ServerCore
    let slots: ConsoleStreamSlots
    /// The longest wait between reads when nothing wakes the feed.
    var wait: Duration = .seconds(5)

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
        guard slots.take(session.id) else {
            throw RequestError(429, "this session already has \(slots.perSession) live views open; close a tab")
        }
        let live = ConsoleStreamSession(request)
        let body = ResponseBody { writer in
            defer { slots.release(session.id) }
            var version = after
            try await writer.write(ByteBuffer(string: "retry: 5000\n\n"))
            while !Task.isCancelled {
                guard try await live.isLive(core.store, now: Date()) else {
                    try await writer.write(ByteBuffer(string: ConsoleStreamSession.endedEvent))
                    break
                }
                let seen = core.feed.current
                let changes = try await core.store.batchChanges(batchId: id, after: version)
                version = changes.version
                var out = ""
                for command in changes.commands {
                    let row = AgentPages.commandRow(CommandView(command, agentName: nil, textLimit: 0))
                    out += ServerSentEvent.event("command", CommandChange(id: command.id, state: row["state"] ?? "", exit: row["exit"] ?? "", reason: row["reason"] ?? ""))
                }
                for chunk in changes.output {
                    out += ServerSentEvent.event("output", OutputChange(id: chunk.commandId, stream: chunk.stream.rawValue, offset: chunk.offset, bytes: chunk.data.count,
                                                             text: String(decoding: chunk.data, as: UTF8.self)))
                }
                let pending = try await core.store.batchPendingCount(batchId: id)
                if pending == 0 {
                    let summary = try await core.batchWaits.summary(batchId: id, wait: 0)
                    let commands = try await core.store.batchCommands(batchId: id, afterRow: 0, limit: AgentPages.commandLimit).map(\.record)
                    out += ServerSentEvent.event("summary", ["text": BatchSummaryText.describe(summary, commands: commands)])
                }
                if !out.isEmpty { try await writer.write(ByteBuffer(string: out)) }
                if pending == 0 || core.feed.isStopped { break }
                await core.feed.wait(after: seen, timeout: wait)
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"], body: body)
    }
}
