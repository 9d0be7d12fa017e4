import Foundation
import Hummingbird
import NIOCore
import RMMAPI
import RMMProtocol
import RMMStore

/// The link-health routes: the latest diagnosis, the verdict history, unattributed address evidence, and running a diagnosis.
enum LinkRoutes {
    static func collection(core: ServerCore) -> RouteCollection<OperatorContext> {
        let routes = RouteCollection(context: OperatorContext.self)
        routes.get("/agents/:agent/link") { _, context -> LinkDiagnosis in
            let agent = try await core.requireAgent(try context.parameters.require("agent"))
            guard let diagnosis = try await core.latestDiagnosis(agentId: agent.id) else {
                throw RequestError(404, "no link diagnosis for \(agent.name) yet; run `gururmm diagnose \(agent.name)`")
            }
            return diagnosis
        }
        routes.get("/agents/:agent/verdicts") { request, context -> JSONBody<[VerdictView]> in
            let agent = try await core.requireAgent(try context.parameters.require("agent"))
            let limit = try request.queryInteger("limit", in: 1...VerdictRecord.keptPerAgent, fallback: VerdictRecord.keptPerAgent)
            let withEvidence = try request.queryBool("evidence", fallback: true)
            let adverseOnly = try request.queryBool("adverse", fallback: false)
            // The adverse filter applies before the limit: `adverse=true&limit=2` is the newest two adverse entries.
            let history = try await core.store.verdicts(agentId: agent.id, limit: adverseOnly ? VerdictRecord.keptPerAgent : limit)
            return JSONBody(history.filter { !adverseOnly || $0.verdict.isAdverse }.prefix(limit).map { VerdictView($0, withEvidence: withEvidence) })
        }
        routes.get("/link/addresses") { _, _ -> JSONBody<[AddressEvidenceView]> in
            JSONBody(core.unattributedEvidence())
        }
        routes.post("/agents/:agent/diagnose") { request, context -> LinkDiagnosis in
            try context.require(.diagnoseLinks)
            let agent = try await core.requireAgent(try context.parameters.require("agent"))
            // The body is optional, but one that is not a `ReasonRequest` is refused, never ignored.
            _ = try await OperatorAPI.optionalReason(request, context)
            try await core.audit(context, "agents.diagnose", targets: [agent.id], detail: "link diagnosis of \(agent.name)")
            if core.registry.clustered, await core.registry.connectedSession(for: agent.id) == nil, AgentViews.storedConnected(agent) {
                return try await core.remoteDiagnosis(of: agent.id, timeout: ServerCore.remoteDiagnosisTimeout)
            }
            let session = await core.registry.session(for: agent.id)
            return await LinkDiagnoser(session: session).run(trigger: "operator \(context.operatorName ?? "")")
        }
        return routes
    }
}
