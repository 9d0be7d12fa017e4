import Foundation
import Hummingbird
import NIOCore
import RMMAPI
import RMMProtocol
import RMMStore

/// The agent routes: list, one agent, evict, rename, revoke.
enum AgentRoutes {
    static func collection(core: ServerCore) -> RouteCollection<OperatorContext> {
        let routes = RouteCollection(context: OperatorContext.self)
        routes.get("/agents") { _, _ -> Response in try await AgentViews.list(core) }
        routes.get("/agents/:agent") { _, context -> AgentView in
            let agent = try await core.requireAgent(try context.parameters.require("agent"))
            return try await core.view(of: agent, now: Date())
        }
        routes.post("/agents/:agent/evict") { request, context -> OKView in
            try context.require(.evictAgents)
            let agent = try await core.requireAgent(try context.parameters.require("agent"))
            let reason = try await OperatorAPI.optionalReason(request, context) ?? "evicted by \(context.operatorName ?? "operator")"
            if let session = await core.registry.existingSession(for: agent.id), await session.evict(reason: reason) {
                // Closed here.
            } else if core.registry.clustered, AgentViews.storedConnected(agent) {
                // Its connection is on another node, which closes it.
                await core.registry.signals.publish(.evict(agentId: agent.id, reason: reason))
            } else {
                throw RequestError(409, "agent \(agent.name) (\(agent.id)) is not connected; nothing to evict")
            }
            try await core.audit(context, "agents.evict", targets: [agent.id], detail: reason)
            return OKView(ok: true, message: "evicted \(agent.name) (\(agent.id)); it will reconnect and resume")
        }
        routes.post("/agents/:agent/rename") { request, context -> AgentView in
            try context.require(.renameAgents)
            let agent = try await core.requireAgent(try context.parameters.require("agent"))
            let name = try await request.decode(as: RenameRequest.self, context: context).name
            try RequestError.refuseNUL(name, in: "name")
            if let problem = AgentName.problem(name) { throw RequestError(400, problem) }
            let renamed: AgentRecord
            do {
                renamed = try await core.store.renameAgent(
                    id: agent.id, to: name,
                    audit: ServerCore.auditEntry(context, "agents.rename", targets: [agent.id], detail: "'\(agent.name)' → '\(name)'")
                )
            } catch StoreError.conflict(let why) {
                throw RequestError(409, why)
            } catch StoreError.invalid(let why) {
                throw RequestError(400, why)
            } catch StoreError.notFound {
                throw RequestError(404, "no agent with id '\(agent.id)'")
            }
            if core.registry.clustered { await core.registry.signals.publish(.renamed(agentId: agent.id)) }
            return try await core.view(of: renamed, now: Date())
        }
        routes.post("/agents/:agent/revoke") { request, context -> OKView in
            try context.require(.revokeAgents)
            let agent = try await core.requireAgent(try context.parameters.require("agent"))
            let reason = try await OperatorAPI.optionalReason(request, context)
            try await core.store.revokeAgent(
                id: agent.id, now: Date(), audit: ServerCore.auditEntry(context, "agents.revoke", targets: [agent.id], detail: reason ?? "")
            )
            await core.registry.revoke(agentId: agent.id, reason: "agent revoked by an operator")
            if core.registry.clustered { await core.registry.signals.publish(.revoke(agentId: agent.id)) }
            return OKView(ok: true, message: "agent \(agent.name) (\(agent.id)) revoked: disconnected and refused from now on")
        }
        return routes
    }
}
