import Foundation
import Hummingbird
import NIOCore
import RMMAPI
import RMMProtocol
import RMMStore

/// The fleet-wide routes: the fleet summary, the agent config, the audit log.
enum FleetRoutes {
    static func collection(core: ServerCore) -> RouteCollection<OperatorContext> {
        let routes = RouteCollection(context: OperatorContext.self)
        routes.get("/fleet") { _, _ -> FleetSummaryView in try await core.fleetSummary(now: Date()) }
        routes.get("/config") { _, _ -> JSONBody<AgentConfig> in JSONBody(await core.registry.currentConfig) }
        routes.put("/config") { request, context -> JSONBody<AgentConfig> in
            try context.require(.admin)
            var config = try await request.decode(as: AgentConfig.self, context: context)
            // The version sent is replaced, but it must still be one a config can have.
            guard (1...WireRange.maxCount).contains(config.version) else {
                throw RequestError(400, "version must be 1...\(WireRange.maxCount) (it is then replaced by the next version)")
            }
            let current = await core.registry.currentConfig
            // After restoring an older database agents refuse its configs as older than the one
            // they applied: `min_version` moves the saved version past theirs.
            let minimumVersion = try request.queryInteger("min_version", in: 1...WireRange.maxCount, fallback: 1)
            config.version = max(current.version, minimumVersion - 1)
            guard config.version < WireRange.maxCount else {
                throw RequestError(409, "the config version is at its maximum (\(WireRange.maxCount))")
            }
            let problems = config.problems()
            guard problems.isEmpty else { throw RequestError(400, "config rejected: " + problems.joined(separator: "; ")) }
            let saved = try await core.store.saveConfig(config) { saved in
                ServerCore.auditEntry(context, "config.update", targets: [], detail: "config version \(saved.version)")
            }
            await core.registry.push(config: saved)
            return JSONBody(saved)
        }
        routes.get("/audit") { request, _ -> JSONBody<[AuditEntry]> in
            let limit = try request.queryInteger("limit", in: 1...10_000, fallback: 200)
            return JSONBody(try await core.store.auditLog(limit: limit))
        }
        return routes
    }
}
