import Foundation
import Hummingbird
import NIOCore

/// `GET /metrics`: every metric in Prometheus' text format 0.0.4. On the API port it takes a
/// token of any role, checked as every API route's; on the `--metrics-listen` listener it takes
/// none, so that listener belongs on loopback or a monitoring network.
enum MetricsEndpoint {
    /// Where it is (the routes below spell it as a literal, as the router's paths take).
    static let path = "/metrics"
    /// The exposition format's media type (Prometheus text format 0.0.4).
    static let contentType = "text/plain; version=0.0.4"

    /// One scrape: sets the scrape-time gauges, then renders every metric.
    static func scrape(_ core: ServerCore) async -> Response {
        let metrics = core.registry.metrics
        await metrics.gauges.update(core: core, now: Date())
        return Response(status: .ok, headers: [.contentType: contentType], body: ResponseBody(byteBuffer: ByteBuffer(bytes: metrics.render())))
    }

    /// Adds the API port's route, behind `auth` (the API's token check and its per-address limit).
    static func addRoute(to router: Router<OperatorContext>, core: ServerCore, auth: TokenAuthMiddleware) {
        // Reading needs no more than the viewer role, which every valid token has: the token
        // check in `auth` is the whole rule (as for the API's other reads).
        router.group("/metrics").add(middleware: auth).get { _, _ in await scrape(core) }
    }

    /// The router of the `--metrics-listen` listener: this one route, without a token.
    static func listenerRouter(core: ServerCore) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.get("/metrics") { _, _ in await scrape(core) }
        return router
    }
}
