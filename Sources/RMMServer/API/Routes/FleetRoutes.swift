import Foundation
import Hummingbird
import NIOCore
import RMMAPI
import RMMProtocol
import RMMStore

/// The fleet-wide routes: the fleet summary, the agent config (`FleetConfigService`), the audit log.
enum FleetRoutes {
    static func collection(core: ServerCore) -> RouteCollection<OperatorContext> {
        let routes = RouteCollection(context: OperatorContext.self)
        routes.get("/fleet") { _, _ -> FleetSummaryView in try await core.fleetSummary(now: Date()) }
        routes.get("/config") { _, _ -> JSONBody<AgentConfig> in JSONBody(await core.fleetConfig.current) }
        routes.put("/config") { request, context -> JSONBody<AgentConfig> in
            try context.require(.configureFleet)
            let config = try await request.decode(as: AgentConfig.self, context: context)
            try FleetConfigRules.requireVersion(config)
            let minimumVersion = try request.queryInteger("min_version", in: 1...WireRange.maxCount, fallback: 1)
            return JSONBody(try await core.fleetConfig.update(config, minimumVersion: minimumVersion, by: AuditActor(context), now: Date()))
        }
        routes.get("/audit") { request, _ -> JSONBody<[AuditEntry]> in
            let limit = try request.queryInteger("limit", in: 1...10_000, fallback: 200)
            return JSONBody(try await core.store.auditLog(limit: limit))
        }
        return routes
    }
}
