import Hummingbird
import RMMStore

/// Runs every operator API request on the store's operator lane (`StoreLane.operator`): its own
/// pool on PostgreSQL, so an operator sees and acts on the fleet while an agent storm fills the
/// agents' pool. First in the router, so authentication's token lookup is on it too; the response
/// body is written on it as well, since a streamed body (the agent list, the batch streams) reads
/// the store after the handler has returned.
struct OperatorLaneMiddleware: RouterMiddleware {
    typealias Context = OperatorContext

    func handle(_ request: Request, context: OperatorContext, next: (Request, OperatorContext) async throws -> Response) async throws -> Response {
        var response = try await StoreLane.$current.withValue(.operator) { try await next(request, context) }
        let body = response.body
        response.body = ResponseBody(contentLength: body.contentLength) { writer in
            try await StoreLane.$current.withValue(.operator) { try await body.write(writer) }
        }
        return response
    }
}
