import Foundation
import Hummingbird
import RMMAPI
import RMMProtocol
import RMMStore

/// The commands page (recent commands, filtered by agent and state) and the audit log.
struct AdminPages: Sendable {
    let core: ServerCore
    let pages: ConsolePages

    /// Rows on the commands and audit pages.
    static let limit = 200

    func add(to routes: RouterGroup<OperatorContext>) {
        routes.get("/commands") { request, context in try await commands(request, context) }
        routes.get("/audit") { _, context in try await audit(context) }
    }

    func commands(_ request: Request, _ context: OperatorContext) async throws -> Response {
        let query = request.uri.queryParameters
        let agentText = query.get("agent").flatMap { $0.isEmpty ? nil : $0 }
        let state = query.get("state").flatMap(CommandState.init(rawValue:))
        let agent = try await agentText.asyncMap { try await core.requireAgent($0) }
        // A state filter reads further back so that it still finds up to `limit` rows.
        let records = try await core.store.commands(agentId: agent?.id, limit: state == nil ? Self.limit : Self.limit * 10)
            .filter { state == nil || $0.state == state }.prefix(Self.limit)
        let names = try await core.store.agentNames(ids: records.map(\.agentId))
        let values: [String: Any] = [
            "agent": agentText ?? "",
            "stateOptions": FleetFilter.options(CommandState.allCases.map(\.rawValue), selected: state?.rawValue),
            "commands": records.map { AgentPages.commandRow(CommandView($0, agentName: names[$0.agentId], textLimit: 200)) },
        ]
        return pages.render("commands", title: "Commands", operator: context.consoleOperator, values: values)
    }

    func audit(_ context: OperatorContext) async throws -> Response {
        let entries = try await core.store.auditLog(limit: Self.limit).map { entry -> [String: String] in
            [
                "at": AgentPages.time(entry.at), "actor": entry.actor, "tokenId": entry.tokenId ?? "", "role": entry.role, "action": entry.action,
                "targets": entry.targets.prefix(10).joined(separator: ", ") + (entry.targets.count > 10 ? " and \(entry.targets.count - 10) more" : ""),
                "detail": entry.detail, "remote": entry.remote,
            ]
        }
        return pages.render("audit", title: "Audit log", operator: context.consoleOperator, values: ["entries": entries])
    }
}
