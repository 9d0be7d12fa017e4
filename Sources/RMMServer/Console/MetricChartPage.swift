import Foundation
import Hummingbird
import NIOCore
import RMMStore

/// `GET /agents/:agent/metrics.svg?range=day|month`: the agent page's charts, as SVG images
/// (`img-src 'self'` lets the page show them; an SVG loaded as an image runs nothing). Read from
/// the store, with the samples not yet written by the agent's session when it is on this node
/// (on another node, the chart is as of that node's last write, at most
/// `HistorySaveSchedule.interval` old).
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

    /// The agent's stored history with the samples its session on this node has not written yet
    /// (up to the last heartbeat when the agent is connected here).
    func history(agentId: String) async throws -> AgentMetricHistory {
        var history = AgentMetricHistory()
        if case .history(let saved) = try await StoredMetricHistory.load(agentId: agentId, from: core.store, logger: core.logger) {
            history = saved
        }
        if let session = await core.registry.existingSession(for: agentId) {
            history.record(await session.unsavedMetricSamples, now: Date())
        }
        return history
    }
}
