import HTTPTypes
import Hummingbird

/// Refuses a console form posted from another site before anything reads it: the CSRF token
/// covers forms of a session, and this covers the one form without a session (the login, which
/// another site could otherwise submit to log a browser into the attacker's account). Browsers
/// say where a request comes from (`Sec-Fetch-Site`, else `Origin`); a client that sends neither
/// is not a browser, and a cross-site forgery needs a browser.
enum ConsoleOriginCheck {
    /// Whether a state-changing request with these headers may proceed. `host` is the request's
    /// `Host` (as the proxy passed it on); an `Origin` must name the same host (and port, if any).
    static func allows(secFetchSite: String?, origin: String?, host: String?) -> Bool {
        if let site = secFetchSite?.lowercased() {
            return site == "same-origin" || site == "none"
        }
        guard let origin else { return true }
        guard let host, !host.isEmpty, let authority = Self.authority(ofOrigin: origin) else { return false }
        return authority.lowercased() == host.lowercased()
            || authority.lowercased() == Self.withoutDefaultPort(host.lowercased(), origin: origin.lowercased())
    }

    /// `host[:port]` of an `Origin` value such as `https://rmm.example.com:8443`; nil for `null` or junk.
    static func authority(ofOrigin origin: String) -> String? {
        for scheme in ["https://", "http://"] where origin.lowercased().hasPrefix(scheme) {
            let rest = origin.dropFirst(scheme.count)
            guard !rest.isEmpty, !rest.contains("/") else { return nil }
            return String(rest)
        }
        return nil
    }

    /// `host` without the scheme's default port, as a browser writes `Origin`.
    private static func withoutDefaultPort(_ host: String, origin: String) -> String {
        let port = origin.hasPrefix("https://") ? ":443" : ":80"
        return host.hasSuffix(port) ? String(host.dropLast(port.count)) : host
    }
}

/// Applies `ConsoleOriginCheck` to every console request that is not a GET or HEAD.
struct ConsoleOriginMiddleware: RouterMiddleware {
    typealias Context = OperatorContext

    func handle(_ request: Request, context: OperatorContext, next: (Request, OperatorContext) async throws -> Response) async throws -> Response {
        if request.method != .get, request.method != .head {
            let fetchSite = HTTPField.Name("Sec-Fetch-Site").flatMap { request.headers[$0] }
            guard ConsoleOriginCheck.allows(secFetchSite: fetchSite, origin: request.headers[.origin], host: request.head.authority) else {
                throw RequestError(403, "this form was sent from another site; open the console's own page and submit it there")
            }
        }
        return try await next(request, context)
    }
}
