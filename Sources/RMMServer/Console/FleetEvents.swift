import Foundation
import Hummingbird
import NIOCore
import RMMStore

/// `GET /events/fleet?…`: a server-sent event stream of the changes to one fleet page, named by
/// the page's own query (search, filters and where the page starts) and the ids of the rows it shows. It reads that page again
/// every `interval` through the same code and views as the page itself (on a cluster the store's
/// liveness says an agent's status, so a change on another node reaches this one), and sends what
/// `FleetChangeMachine` decides: rows that change, come onto the page or leave it. Each write is
/// awaited before the next read, so a slow browser holds at most one read's events, never a
/// growing queue; a read costs what rendering the page costs, whatever the fleet's size.
struct FleetEvents: Sendable {
    let core: ServerCore
    let slots: ConsoleStreamSlots
    /// Between reads of the watched agents.
    var interval: Duration = .seconds(2)
    /// Sent when nothing else was, so proxies and the browser keep the stream open.
    var keepAliveEvery = 5
    /// Between recounts of the fleet's summary line (a count visits every session of this node).
    var summaryEvery: TimeInterval = 10

    func stream(_ request: Request, _ context: OperatorContext) async throws -> Response {
        guard let session = context.consoleSession else { throw RequestError(401, "no console session") }
        let query = request.uri.queryParameters
        let filter = FleetFilter { query.get($0) }
        let cursor = FleetPage.cursor { query.get($0) }
        // The rows the browser's page shows; only compared with, so a bounded list of bounded ids.
        let shown = (query.get("ids") ?? "").split(separator: ",", omittingEmptySubsequences: true)
            .prefix(FleetPage.pageSize).filter(Self.isAgentId).map(String.init)
        guard let lease = slots.lease(session.id) else {
            throw RequestError(429, "this session already has \(slots.perSession) live views open; close a tab")
        }
        let live = ConsoleStreamSession(request)
        let body = ResponseBody { writer in
            // Held for as long as the body runs; dropped with it on every path.
            _ = lease
            var machine = FleetChangeMachine(shown: shown)
            var quiet = 0
            var summary: (text: String, at: Date)?
            try await writer.write(ByteBuffer(string: "retry: 5000\n\n"))
            while !Task.isCancelled, !core.feed.isStopped {
                let now = Date()
                guard try await live.isLive(core.store, now: now) else {
                    try await writer.write(ByteBuffer(string: ConsoleStreamSession.endedEvent))
                    break
                }
                var out = ""
                let page = try await FleetPage.load(core: core, filter: filter, after: cursor, now: now)
                for event in machine.observe(page.views.map { FleetPage.row($0, now: now) }, now: now) {
                    out += Self.encode(event)
                }
                if summary.map({ now.timeIntervalSince($0.at) >= summaryEvery }) ?? true {
                    let text = FleetPage.summaryText(try await core.recentFleetSummary(now: now), shown: page.views.count)
                    if text != summary?.text { out += ServerSentEvent.event("summary", ["text": text]) }
                    summary = (text, now)
                }
                quiet = out.isEmpty ? quiet + 1 : 0
                if quiet >= keepAliveEvery {
                    out = ": keep-alive\n\n"
                    quiet = 0
                }
                if !out.isEmpty { try await writer.write(ByteBuffer(string: out)) }
                try await Task.sleep(for: interval)
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"], body: body)
    }

    /// Whether `text` could be an agent id (letters, digits, `_` and `-`, at most 64): only such
    /// ids are taken from the query, since a `gone` event echoes them into the stream.
    static func isAgentId(_ text: Substring) -> Bool {
        !text.isEmpty && text.utf8.count <= 64 && text.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x5F || byte == 0x2D
        }
    }

    /// One event in the SSE format.
    static func encode(_ event: FleetChangeMachine.Event) -> String {
        switch event {
        case .changed(let row): return ServerSentEvent.event("agent", row)
        case .added(let row, let after): return ServerSentEvent.event("added", AddedRow(after: after, row: row))
        case .gone(let id): return "event: gone\ndata: \(id)\n\n"
        }
    }

    /// An `added` event's data: the row, and the id of the row it follows (null: first).
    struct AddedRow: Encodable {
        var after: String?
        var row: FleetRow
    }
}
