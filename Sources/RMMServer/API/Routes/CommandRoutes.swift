import Foundation
import Hummingbird
import NIOCore
import RMMAPI
import RMMProtocol
import RMMStore

/// The command and batch routes: run, list, one command, cancel, and a batch's summary (long-poll, `BatchWaitService`), changes, events and results.
enum CommandRoutes {
    static func collection(core: ServerCore) -> RouteCollection<OperatorContext> {
        let routes = RouteCollection(context: OperatorContext.self)
        routes.post("/commands") { request, context -> EditedResponse<RunResponse> in
            try context.require(.runCommands)
            let body = try await request.decode(as: RunRequest.self, context: context)
            let what = body.command.map { "shell: " + String($0.prefix(200)) } ?? "script of \(body.script?.utf8.count ?? 0) bytes"
            // The audit entry is stored with the commands, in one commit.
            let (batchId, records, names) = try await core.commands.run(body, by: context.operatorName ?? "unknown") { batchId, records in
                ServerCore.auditEntry(context, "commands.run", targets: records.map(\.agentId), detail: "batch \(batchId): \(what)")
            }
            // A client that follows the batch's streams may ask for the count alone: at 10,000
            // targets the list is about a megabyte to write and read that it already gets there.
            if body.listCommands == false {
                return EditedResponse(status: .created, response: RunResponse(batchId: batchId, commands: [], commandCount: records.count))
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
            try context.require(.cancelCommands)
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
            return try await core.batchWaits.summary(batchId: id, wait: wait)
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
            let view = try request.queryChoice("view", fallback: BatchStreamView.full)
            return try await BatchStreams.events(core, batchId: id, after: after, wait: wait, output: output, terminalOnly: terminalOnly, view: view)
        }
        routes.get("/batches/:id/results") { request, context -> Response in
            let id = try context.parameters.require("id")
            let output = try request.queryBool("output", fallback: true)
            return try await BatchStreams.results(core, batchId: id, output: output)
        }
        return routes
    }
}
