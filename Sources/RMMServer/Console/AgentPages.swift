import Foundation
import Hummingbird
import RMMAPI
import RMMProtocol
import RMMStore

/// The agent page (facts, link, verdict history, command history, the run form) and the batch
/// page (each command's state and output, and a summary), built from the API's views.
struct AgentPages: Sendable {
    let core: ServerCore
    let pages: ConsolePages
    /// Live streams per session (shared with the fleet's).
    let slots: ConsoleStreamSlots

    /// Commands shown on an agent page and on a batch page.
    static let commandLimit = 50
    /// Output shown per command on a batch page.
    static let outputBytes = 16 << 10

    func add(to routes: RouterGroup<OperatorContext>) {
        routes.get("/agents/:agent") { _, context in try await agent(context) }
        MetricChartPage(core: core).add(to: routes)
        routes.post("/agents/:agent/run") { request, context in try await run(request, context) }
        routes.get("/batches/:id") { _, context in try await batch(context) }
        routes.get("/events/batches/:id") { request, context in try await BatchEvents(core: core, slots: slots).stream(request, context) }
    }

    func agent(_ context: OperatorContext) async throws -> Response {
        let record = try await core.requireAgent(try context.parameters.require("agent"))
        let now = Date()
        let view = try await core.view(of: record, now: now)
        let row = FleetPage.row(view, now: now)
        var values: [String: Any] = [
            "agent": [
                "id": view.id, "name": view.name, "status": view.status.rawValue, "hostname": view.hostname, "os": view.os,
                "version": view.version, "remote": view.remoteAddress ?? "–", "lastSeen": row.lastSeen,
                "downlink": view.downlinkReason ?? row.mode, "rtt": row.rtt, "metrics": "\(row.cpu) / \(row.memory) / \(row.disk)",
            ],
            "verdicts": try await core.store.verdicts(agentId: record.id, limit: 20).map { record in
                let verdict = VerdictView(record, withEvidence: false)
                return [
                    "verdict": verdict.verdict.rawValue, "headline": verdict.headline, "summary": verdict.summary,
                    "source": verdict.source.rawValue, "stage": verdict.stage.rawValue, "first": Self.time(verdict.firstAt),
                    "last": Self.time(verdict.lastAt), "count": String(verdict.count),
                ] as [String: String]
            },
            "commands": try await core.store.commands(agentId: record.id, limit: Self.commandLimit).map { command in
                Self.commandRow(CommandView(command, agentName: record.name, textLimit: 200))
            },
            "canRun": OperatorAction.runCommands.allows(context.operatorRole),
            "interpreters": await core.registry.currentConfig.allowedInterpreters.map { ["value": $0, "label": $0, "selected": $0 == "/bin/sh"] },
            "csrf": context.consoleSession?.csrfSecret ?? "",
        ]
        if let diagnosis = try await core.latestDiagnosis(agentId: record.id) {
            values["diagnosis"] = ["verdict": diagnosis.verdict.rawValue, "summary": diagnosis.summary, "at": Self.time(diagnosis.finishedAt)]
        }
        return pages.render("agent", title: view.name, operator: context.consoleOperator, values: values)
    }

    /// The run form: a command or a script with its interpreter, through the same rule, service
    /// and audit as `POST /api/v1/commands` (which checks the interpreter against the config).
    func run(_ request: Request, _ context: OperatorContext) async throws -> Response {
        let form = try await ConsoleForm.checked(request, context)
        try context.require(.runCommands)
        let record = try await core.requireAgent(try context.parameters.require("agent"))
        let input = try ConsoleRunForm(form)
        let what = input.auditText
        let (batchId, _, _) = try await core.commands.run(input.request(agentId: record.id), by: context.operatorName ?? "unknown") { batchId, records in
            ServerCore.auditEntry(context, "commands.run", targets: records.map(\.agentId), detail: "batch \(batchId) (console): \(what)")
        }
        return ConsolePages.redirect("/batches/\(batchId)")
    }

    func batch(_ context: OperatorContext) async throws -> Response {
        let id = try context.parameters.require("id")
        // Read before the page's data, so the live stream goes on from here and misses nothing written since.
        let version = try await core.store.batchTopVersion(batchId: id) ?? 0
        let summary = try await core.batchWaits.summary(batchId: id, wait: 0)
        let commands = try await core.store.batchCommands(batchId: id, afterRow: 0, limit: Self.commandLimit).map(\.record)
        let names = try await core.store.agentNames(ids: commands.map(\.agentId))
        let outputs = Dictionary(
            try await core.store.commandOutputs(commandIds: commands.map(\.id), maxBytes: Self.outputBytes * 4).map { ($0.commandId, $0) },
            uniquingKeysWith: { first, _ in first }
        )
        let rows = commands.map { command -> [String: String] in
            var row = Self.commandRow(CommandView(command, agentName: names[command.agentId]))
            row["stdout"] = Self.text(outputs[command.id]?.stdout)
            row["stderr"] = Self.text(outputs[command.id]?.stderr)
            // The bytes shown, so the live stream appends only what follows them.
            row["stdoutBytes"] = String(Self.shownBytes(outputs[command.id]?.stdout))
            row["stderrBytes"] = String(Self.shownBytes(outputs[command.id]?.stderr))
            return row
        }
        let values: [String: Any] = ["batchId": id, "live": "/events/batches/\(id)?after=\(version)", "summary": BatchSummaryText.describe(summary, commands: commands), "done": summary.done ? "true" : "false",
                                     "commands": rows]
        return pages.render("batch", title: "Batch \(id)", operator: context.consoleOperator, values: values)
    }

    static func commandRow(_ view: CommandView) -> [String: String] {
        [
            "id": view.id, "batchId": view.batchId, "agentId": view.agentId, "agent": view.agent ?? view.agentId, "text": view.text,
            "state": view.state.rawValue, "exit": view.exitCode.map(String.init) ?? (view.signal.map { "signal \($0)" } ?? "–"),
            "reason": view.reason ?? "", "by": view.createdBy, "created": time(view.createdAt),
        ]
    }

    static func text(_ data: Data?) -> String {
        guard let data else { return "" }
        return String(decoding: data.prefix(outputBytes), as: UTF8.self) + (data.count > outputBytes ? "\n… (more in `gururmm run` or the API)" : "")
    }

    /// How many bytes of a stream the page shows; -1 (never matched) once it was cut.
    static func shownBytes(_ data: Data?) -> Int {
        guard let data else { return 0 }
        return data.count > outputBytes ? -1 : data.count
    }

    static func time(_ date: Date) -> String {
        date.formatted(.iso8601)
    }
}

/// The batch page's summary sentence: how many succeeded, failed, expired or are still running,
/// with the reasons of those that did not succeed.
enum BatchSummaryText {
    static func describe(_ summary: BatchSummaryView, commands: [CommandRecord]) -> String {
        let count = { (state: CommandState) in summary.states[state.rawValue] ?? 0 }
        var parts = ["\(summary.total) commands: \(count(.succeeded)) succeeded, \(count(.failed)) failed, \(count(.expired)) expired"]
        let others = summary.states.filter { ![CommandState.succeeded, .failed, .expired].map(\.rawValue).contains($0.key) && $0.value > 0 }
        for (state, n) in others.sorted(by: { $0.key < $1.key }) { parts.append("\(n) \(state)") }
        var sentence = parts.joined(separator: ", ") + (summary.done ? "." : " (still running).")
        let reasons = Dictionary(grouping: commands.filter { $0.state != .succeeded && $0.reason != nil }, by: { $0.reason ?? "" })
        if !reasons.isEmpty {
            sentence += " Reasons: " + reasons.sorted { $0.value.count > $1.value.count }.prefix(5)
                .map { "\($0.value.count) × \($0.key)" }.joined(separator: "; ") + "."
        }
        return sentence
    }
}
