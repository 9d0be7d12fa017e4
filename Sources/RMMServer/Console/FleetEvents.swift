import Foundation
import Hummingbird
import NIOCore
import RMMStore

/// `GET /events/fleet?ids=…`: a server-sent event stream of the changes to the agents a fleet
/// page shows (at most `FleetPage.pageSize` ids). It reads those agents every `interval` through
/// the same views as the page (on a cluster the store's liveness says an agent's status, so a
/// change on another node reaches this one), and sends what `FleetChangeMachine` decides, plus a
/// `fleet` event when the number of enrolled agents changes. Each write is awaited before the
/// next read, so a slow browser holds at most one read's events, never a growing queue.
struct FleetEvents: Sendable {
    let core: ServerCore
    let slots: ConsoleStreamSlots
    /// Between reads of the watched agents.
    var interval: Duration = .seconds(2)
    /// Sent when nothing else was, so proxies and the browser keep the stream open.
    var keepAliveEvery = 5

    func stream(_ request: Request, _ context: OperatorContext) async throws -> Response {
        guard let session = context.consoleSession else { throw RequestError(401, "no console session") }
        let ids = Array((request.uri.queryParameters.get("ids") ?? "").split(separator: ",").prefix(FleetPage.pageSize).map(String.init))
        guard slots.take(session.id) else {
            throw RequestError(429, "this session already has \(slots.perSession) live views open; close a tab")
        }
        let body = ResponseBody { writer in
            defer { slots.release(session.id) }
            var machine = FleetChangeMachine()
            var enrolled: Int?
            var quiet = 0
            try await writer.write(ByteBuffer(string: "retry: 5000\n\n"))
            while !Task.isCancelled, !core.feed.isStopped {
                let now = Date()
                var out = ""
                let agents = try await core.store.resolveAgents(ids).compactMap { try? $0.get() }
                for event in machine.observe(try await AgentViews.views(of: agents, core: core, now: now).map { FleetPage.row($0, now: now) }, now: now) {
                    out += Self.encode(event)
                }
                let count = try await core.store.agentCounts().enrolled
                if let enrolled, enrolled != count { out += "event: fleet\ndata: {\"enrolled\":\(count)}\n\n" }
                enrolled = count
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

    /// One event in the SSE format.
    static func encode(_ event: FleetChangeMachine.Event) -> String {
        switch event {
        case .changed(let row): return ServerSentEvent.event("agent", row)
        case .gone(let id): return "event: gone\ndata: \(id)\n\n"
        }
    }
}
