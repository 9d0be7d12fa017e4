import Hummingbird

/// Which methods each operator API path takes, so a known path asked with another method gets
/// 405 with an `Allow` header (RFC 9110 §15.5.6) instead of the router's 404. Patterns use the
/// router's syntax (`:name` matches one segment); the table must list every route `OperatorAPI`
/// registers (a unit test compares it with openapi.yaml).
struct RouteTable: Sendable {
    /// Pattern → methods, as `OperatorAPI` registers them.
    static let operatorAPI = RouteTable([
        "/api/v1/health": [.get],
        "/api/v1/fleet": [.get],
        "/api/v1/agents": [.get],
        "/api/v1/agents/:agent": [.get],
        "/api/v1/agents/:agent/link": [.get],
        "/api/v1/agents/:agent/verdicts": [.get],
        "/api/v1/link/addresses": [.get],
        "/api/v1/agents/:agent/diagnose": [.post],
        "/api/v1/agents/:agent/evict": [.post],
        "/api/v1/agents/:agent/rename": [.post],
        "/api/v1/agents/:agent/revoke": [.post],
        "/api/v1/commands": [.get, .post],
        "/api/v1/commands/:id": [.get],
        "/api/v1/commands/:id/cancel": [.post],
        "/api/v1/batches/:id": [.get],
        "/api/v1/batches/:id/changes": [.get],
        "/api/v1/batches/:id/events": [.get],
        "/api/v1/batches/:id/results": [.get],
        "/api/v1/enrollment-tokens": [.get, .post],
        "/api/v1/enrollment-tokens/:id": [.delete],
        "/api/v1/config": [.get, .put],
        "/api/v1/tokens": [.get, .post],
        "/api/v1/tokens/:id": [.delete],
        "/api/v1/audit": [.get],
        "/metrics": [.get],
    ])

    private let routes: [(segments: [Substring], methods: [HTTPRequest.Method])]

    init(_ routes: [String: [HTTPRequest.Method]]) {
        self.routes = routes.map { (Self.segments($0.key), $0.value) }
    }

    /// Every pattern with its methods.
    var patterns: [(pattern: String, methods: [HTTPRequest.Method])] {
        routes.map { ("/" + $0.segments.joined(separator: "/"), $0.methods) }
    }

    /// The methods `path` takes, or nil when no route has that path at all.
    func allowedMethods(for path: String) -> [HTTPRequest.Method]? {
        let asked = Self.segments(path)
        var allowed: [HTTPRequest.Method] = []
        for route in routes where Self.matches(route.segments, asked) {
            for method in route.methods where !allowed.contains(method) { allowed.append(method) }
        }
        return allowed.isEmpty ? nil : allowed.sorted { $0.rawValue < $1.rawValue }
    }

    /// The `Allow` header's value for these methods.
    static func allowHeader(_ methods: [HTTPRequest.Method]) -> String {
        methods.map(\.rawValue).joined(separator: ", ")
    }

    // The router ignores empty segments (a doubled or trailing slash), so this does too.
    private static func segments(_ path: String) -> [Substring] {
        path.split(separator: "/", omittingEmptySubsequences: true)
    }

    private static func matches(_ pattern: [Substring], _ path: [Substring]) -> Bool {
        guard pattern.count == path.count else { return false }
        return zip(pattern, path).allSatisfy { $0.hasPrefix(":") || $0 == $1 }
    }
}

/// Turns the router's "no route" 404 into 405 with `Allow` when the path is known but the method
/// is not one it takes. A handler's own 404 (no such agent) carries a message and passes unchanged.
struct MethodNotAllowedMiddleware: RouterMiddleware {
    typealias Context = OperatorContext
    let table: RouteTable

    func handle(_ request: Request, context: OperatorContext, next: (Request, OperatorContext) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound && error.body == nil {
            guard let allowed = table.allowedMethods(for: request.uri.path), !allowed.contains(request.method) else { throw error }
            throw HTTPError(.methodNotAllowed, headers: [.allow: RouteTable.allowHeader(allowed)],
                            message: "\(request.method) is not allowed on \(request.uri.path); allowed: \(RouteTable.allowHeader(allowed))")
        }
    }
}
