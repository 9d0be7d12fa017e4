import HTTPTypes
import Hummingbird

/// Adds the console's security headers to every console response: a CSP that allows only the
/// console's own script and stylesheet (no inline code), no framing, no sniffing, no referrer.
struct ConsoleHeadersMiddleware: RouterMiddleware {
    typealias Context = OperatorContext

    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        + "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

    func handle(_ request: Request, context: OperatorContext, next: (Request, OperatorContext) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        response.headers[.contentSecurityPolicy] = Self.contentSecurityPolicy
        response.headers[.xContentTypeOptions] = "nosniff"
        // Names HTTPTypes has no constant for; both are valid tokens, so the lookups never fail.
        if let name = HTTPField.Name("Referrer-Policy") { response.headers[name] = "no-referrer" }
        if let name = HTTPField.Name("X-Frame-Options") { response.headers[name] = "DENY" }
        return response
    }
}
