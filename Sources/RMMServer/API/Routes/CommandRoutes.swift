import Foundation
import Hummingbird
import NIOCore
import RMMAPI
import RMMProtocol
import RMMStore

/// The command and batch routes: run, list, one command, cancel, and a batch's summary (long-poll), changes, events and results.
enum CommandRoutes {
    static func collection(core: ServerCore) -> RouteCollection<OperatorContext> {
        let routes = RouteCollection(context: OperatorContext.self)
        routes.post("/commands") { request, context -> EditedResponse<RunResponse> in
            try context.require(.operator)
            let body = try await request.decode(as: RunRequest.self, context: context)
            let what = body.command.map { "shell: " + String($0.prefix(200)) } ?? "script of \(body.script?.utf8.count ?? 0) bytes"
            // The audit entry is stored with the commands, in one commit.
            let (batchId, records, names) = try await core.commands.run(body, by: context.operatorName ?? "unknown") { batchId, records in
                ServerCore.auditEntry(context, "commands.run", targets: records.map(\.agentId), detail: "batch \(batchId): \(what)")
            }
            let targets = records.map { RunResponse.Target(commandId: $0.id, agentId: $0.agentId, agent: names[$0.agentId] ?? $0.agentId) }
            return EditedResponse(status: .created, response: RunResponse(batchId: batchId, commands: targets))
        }
        routes.get("/commands") { request, context -> [CommandView] in
            let agentFilter = request.uri.queryParameters.get("agent")
            let limit = try request.queryInteger("limit", in: 1...10_000, fallback: 100)
            let agentId = try await agentFilter.asyncMap { try await core.requireAgent($0).id }
            let commands = try await core.store.commands(agentId: agentId, limit: limit)
            let names = try await core.store.agentNames(ids: commands.map(\.agentId))
            return commands.map { CommandView($0, agentName: names[$0.agentId], textLimit: 200) }
        }
        routes.get("/commands/:id") { _, context -> CommandView in
            let id = try context.parameters.require("id")
            guard let record = try await core.store.command(id: id) else { throw RequestError(404, "command \(id) not found") }
            var view = CommandView(record, agentName: try await core.store.agent(id: record.agentId)?.name)
            view.stdout = String(decoding: try await core.store.output(commandId: id, stream: .stdout), as: UTF8.self)
            view.stderr = String(decoding: try await core.store.output(commandId: id, stream: .stderr), as: UTF8.self)
            view.events = try await core.store.events(commandId: id).map { CommandEventView(state: $0.state, at: $0.at, reason: $0.reason) }
            return view
        }
        routes.post("/commands/:id/cancel") { request, context -> CommandView in
            try context.require(.operator)
            let id = try context.parameters.require("id")
            let reason = try await OperatorAPI.optionalReason(request, context)
            // Stored with the state change when the command was still queued.
            let record = try await core.commands.cancel(
                commandId: id, reason: reason ?? "cancelled by \(context.operatorName ?? "operator")",
                audit: ServerCore.auditEntry(context, "commands.cancel", targets: [id], detail: reason ?? "")
            )
            return CommandView(record, agentName: nil)
        }
        routes.get("/batches/:id") { request, context -> BatchSummaryView in
            let id = try context.parameters.require("id")
            let wait = try request.queryReal("wait", in: 0...60, fallback: 0)
            return try await batchSummary(core, batchId: id, wait: wait)
        }
        routes.get("/batches/:id/changes") { request, context -> Response in
            let id = try context.parameters.require("id")
            let after = try request.queryInteger("after", in: 0...WireRange.maxCount, fallback: 0)
            let wait = try request.queryReal("wait", in: 0...60, fallback: 0)
            return try await BatchStreams.changesObject(core, batchId: id, after: after, wait: wait)
        }
        routes.get("/batches/:id/events") { request, context -> Response in
            let id = try context.parameters.require("id")
            let after = try request.queryInteger("after", in: 0...WireRange.maxCount, fallback: 0)
            let wait = try request.queryReal("wait", in: 0...60, fallback: 0)
            let output = try request.queryBool("output", fallback: true)
            let terminalOnly = try request.queryBool("terminal", fallback: false)
            return try await BatchStreams.events(core, batchId: id, after: after, wait: wait, output: output, terminalOnly: terminalOnly)
        }
        routes.get("/batches/:id/results") { request, context -> Response in
            let id = try context.parameters.require("id")
            let output = try request.queryBool("output", fallback: true)
            return try await BatchStreams.results(core, batchId: id, output: output)
        }
        return routes
    }

    /// The batch's counts; with `wait`, holds the request until the batch is done or `wait` passed.
    private static func batchSummary(_ core: ServerCore, batchId: String, wait: Double) async throws -> BatchSummaryView {
        let deadline = Date().addingTimeInterval(wait)
        var seen = core.feed.current
        var counts = try await core.store.batchStateCounts(batchId: batchId)
        if counts.isEmpty { throw RequestError(404, "batch \(batchId) not found") }
        let total = counts.values.reduce(0, +)
        var pending = counts.filter { !$0.key.isTerminal }.values.reduce(0, +)
        // While a big batch is waited for, each wake-up counts only its unfinished commands (an
        // index of just those); the full per-state count, which reads the whole batch, is taken
        // once more for the answer. A small batch is counted in full each time: as cheap, and one
        // read instead of two on an operator's round trip.
        let big = total >= 1000
        while pending > 0 && deadline.timeIntervalSinceNow > 0 {
            await core.feed.wait(after: seen, timeout: .milliseconds(Int(deadline.timeIntervalSinceNow * 1000)))
            // A big fan-out bumps the feed once per result: recount at most every 20 ms, not per bump.
            if big { try? await Task.sleep(for: .milliseconds(20)) }
            seen = core.feed.current
            if big {
                pending = try await core.store.batchPendingCount(batchId: batchId)
                if pending == 0 || deadline.timeIntervalSinceNow <= 0 { counts = try await core.store.batchStateCounts(batchId: batchId) }
            } else {
                counts = try await core.store.batchStateCounts(batchId: batchId)
                pending = counts.filter { !$0.key.isTerminal }.values.reduce(0, +)
            }
        }
        let terminal = counts.filter { $0.key.isTerminal }.values.reduce(0, +)
        return BatchSummaryView(batchId: batchId, total: total, terminal: terminal, done: terminal == total,
                                states: Dictionary(uniqueKeysWithValues: counts.map { ($0.key.rawValue, $0.value) }))
    }
}
