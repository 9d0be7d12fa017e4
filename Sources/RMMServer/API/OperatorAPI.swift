import Foundation
import Hummingbird
import NIOCore
import RMMAPI
import RMMProtocol
import RMMStore

/// The operator REST API under `/api/v1`: middleware, the health route, and the route collections
/// (`Routes/`), whose routes only translate HTTP to calls of `ServerCore` and its services (`Services/`).
enum OperatorAPI {
    /// `tls`: the API port terminates TLS (the console's cookie is then `Secure`).
    static func router(core: ServerCore, tls: Bool) throws -> Router<OperatorContext> {
        let router = Router(context: OperatorContext.self)
        // Before all else: every store call a request makes, its token's included, uses the operator's pool.
        router.add(middleware: OperatorLaneMiddleware())
        if !core.settings.trustedProxies.isEmpty {
            // Before the audit and the per-address limits, so they see the client, not the proxy.
            router.add(middleware: ForwardedClientMiddleware(trusted: core.settings.trustedProxies))
        }
        router.add(middleware: ErrorMappingMiddleware())
        router.add(middleware: NULRefusingMiddleware())
        router.add(middleware: MethodNotAllowedMiddleware(table: .operatorAPI))
        router.get("/api/v1/health") { _, _ in OKView(ok: true, message: "gururmm server is running") }
        // One failure limit for API tokens, /metrics and console logins: failures on any of them
        // count against the same address.
        let limiter = AddressLimiter(settings: core.settings)
        let auth = TokenAuthMiddleware(core: core, limiter: limiter)
        MetricsEndpoint.addRoute(to: router, core: core, auth: auth)
        let api = router.group("/api/v1").add(middleware: auth)
        // One route collection per resource group; the group's token middleware covers them all.
        api.addRoutes(AgentRoutes.collection(core: core))
        api.addRoutes(LinkRoutes.collection(core: core))
        api.addRoutes(CommandRoutes.collection(core: core))
        api.addRoutes(TokenRoutes.collection(core: core))
        api.addRoutes(FleetRoutes.collection(core: core))
        ConsoleRoutes(core: core, pages: try ConsolePages(), limiter: limiter, tls: tls).add(to: router)
        return router
    }

    /// The optional `{"reason": …}` body of evict, cancel and revoke.
    static func optionalReason(_ request: Request, _ context: OperatorContext) async throws -> String? {
        let reason = try await request.decodeIfPresent(as: ReasonRequest.self, context: context)?.reason
        try RequestError.refuseNUL(reason, in: "reason")
        // A cancel's reason travels to the agent and back in its result: well inside the wire's
        // bound for text, with room for what the agent adds.
        if let reason, reason.utf8.count > ReasonRequest.maxBytes {
            throw RequestError(400, "reason must be at most \(ReasonRequest.maxBytes) bytes")
        }
        return reason
    }
}

extension Request {
    /// A JSON body that may be left out: nil when there is none; otherwise it must decode like any
    /// other body (else 400) within the upload limit (else 413). A body that cannot be read is never
    /// ignored: the caller asked for something, and silently doing something else is worse than refusing.
    func decodeIfPresent<T: Decodable>(as type: T.Type, context: OperatorContext) async throws -> T? {
        let buffer = try await body.collect(upTo: context.maxUploadSize)
        guard buffer.readableBytes > 0 else { return nil }
        return try context.requestDecoder.decode(T.self, from: Data(buffer.readableBytesView))
    }
}

extension Request {
    /// A whole-number query parameter in `range` (`fallback` when absent); anything else is 400.
    func queryInteger(_ name: String, in range: ClosedRange<Int>, fallback: Int) throws -> Int {
        do {
            return try QueryNumber.integer(uri.queryParameters.get(name), name: name, in: range, fallback: fallback)
        } catch {
            throw RequestError(400, error.description)
        }
    }

    /// A query parameter that is `true` or `false` (`fallback` when absent); anything else is 400.
    func queryBool(_ name: String, fallback: Bool) throws -> Bool {
        guard let text = uri.queryParameters.get(name) else { return fallback }
        switch text {
        case "true": return true
        case "false": return false
        default: throw RequestError(400, "\(name) must be true or false")
        }
    }

    /// A query parameter naming one of `Choice`'s cases (`fallback` when absent); anything else is 400.
    func queryChoice<Choice: RawRepresentable & CaseIterable>(_ name: String, fallback: Choice) throws -> Choice where Choice.RawValue == String {
        guard let text = uri.queryParameters.get(name) else { return fallback }
        guard let choice = Choice(rawValue: String(text)) else {
            throw RequestError(400, "\(name) must be one of: " + Choice.allCases.map(\.rawValue).joined(separator: ", "))
        }
        return choice
    }

    /// A finite numeric query parameter in `range` (`fallback` when absent); anything else is 400.
    func queryReal(_ name: String, in range: ClosedRange<Double>, fallback: Double) throws -> Double {
        do {
            return try QueryNumber.real(uri.queryParameters.get(name), name: name, in: range, fallback: fallback)
        } catch {
            throw RequestError(400, error.description)
        }
    }
}

extension Optional {
    /// Maps with an async throwing transform.
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}

extension AgentView: ResponseEncodable {}
extension FleetSummaryView: ResponseEncodable {}
extension BatchSummaryView: ResponseEncodable {}
extension CommandView: ResponseEncodable {}
extension RunResponse: ResponseEncodable {}
extension BatchChangesView: ResponseEncodable {}
extension EnrollmentTokenView: ResponseEncodable {}
extension OKView: ResponseEncodable {}
extension LinkDiagnosis: ResponseEncodable {}
extension APITokenView: ResponseEncodable {}

/// Sends any Encodable value (from another module) as a JSON response body, unchanged.
struct JSONBody<Value: Encodable & Sendable>: ResponseEncodable {
    let value: Value
    init(_ value: Value) { self.value = value }
    func encode(to encoder: any Encoder) throws { try value.encode(to: encoder) }
}
