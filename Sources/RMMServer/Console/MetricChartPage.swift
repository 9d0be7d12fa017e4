import Foundation
import Hummingbird
import NIOCore
import RMMStore

/// `GET /agents/:agent/metrics.svg?range=day|month`: the agent page's charts, as SVG images
/// (`img-src 'self'` lets the page show them; an SVG loaded as an image runs nothing). Read from
/// the agent's session when it is connected to this node (up to the last heartbeat), else from
/// the store (as of the owning node's last save, at most `HistorySaveSchedule.interval` old).
struct MetricChartPage: Sendable {
    let core: ServerCore

    func add(to routes: RouterGroup<OperatorContext>) {
        routes.get("/agents/:agent/metrics.svg") { request, context in try await chart(request, context) }
    }

    func chart(_ request: Request, _ context: OperatorContext) async throws -> Response {
        let record = try await core.requireAgent(try context.parameters.require("agent"))
        let asked = request.uri.queryParameters.get("range") ?? AgentMetricHistory.Range.day.rawValue
        guard let range = AgentMetricHistory.Range(rawValue: asked) else { throw RequestError(400, "range must be day or month") }
        let history = try await history(agentId: record.id)
        let svg = MetricChartSVG.render(history.points(range, now: Date()), range: range)
        var headers = HTTPFields()
        headers[.contentType] = "image/svg+xml; charset=utf-8"
        headers[.cacheControl] = "no-store"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: svg)))
    }

    /// The agent's session's history when it is connected to this node (up to its last
    /// heartbeat); otherwise the store's, as the node it was last on saved it. A session here
    /// that is not connected may be stale (the agent may be on another node now), so it is used
    /// only when the store holds nothing readable.
    func history(agentId: String) async throws -> AgentMetricHistory {
        let session = await core.registry.existingSession(for: agentId)
        if let session, session.liveEpoch.value != nil { return await session.metricHistory }
        if case .history(let saved) = try await StoredMetricHistory.load(agentId: agentId, from: core.store, logger: core.logger) {
            return saved
        }
        return await session?.metricHistory ?? AgentMetricHistory()
    }
}
