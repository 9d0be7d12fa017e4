import Foundation
import Hummingbird
import NIOCore
import RMMAPI
import RMMProtocol
import RMMStore

/// Request context of the operator API: who is calling, and JSON coders in the API's style.
struct OperatorContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    /// Name of the authenticated API token, set by `TokenAuthMiddleware`.
    var operatorName: String?
    /// Id of the authenticated API token (names need not be unique; the audit log records both).
    var operatorTokenId: String?
    var operatorRole: OperatorRole?
    /// Where the request came from, for the audit log (a trusted proxy's client: `ForwardedClientMiddleware`).
    var remote: String
    /// The address failed authentications are counted under (`AddressLimiter.key`).
    var remoteKey: String
    /// The TCP peer, whatever a proxy says.
    let peer: SocketAddress?
    /// The address the peer connected to (the console refuses plain-http logins to a non-loopback one).
    let local: SocketAddress?
    /// The web console's session, set by `ConsoleSessionMiddleware` (nil on the API's routes).
    var consoleSession: ConsoleSessionRecord?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        peer = source.channel.remoteAddress
        local = source.channel.localAddress
        remote = peer?.peerDescription ?? "unknown"
        remoteKey = AddressLimiter.key(for: peer)
    }

    /// Refuses the request unless the token's role may take `action` (`OperatorAction`'s table).
    func require(_ action: OperatorAction) throws {
        guard action.allows(operatorRole) else {
            throw RequestError(403, "this needs the \(action.role.rawValue) role; token '\(operatorName ?? "?")' has \(operatorRole?.rawValue ?? "none")")
        }
    }

    /// Largest request body: an 8 MiB script fits with JSON escaping to spare.
    var maxUploadSize: Int { 24 << 20 }
    var requestDecoder: JSONDecoder { APICoding.decoder() }
    var responseEncoder: JSONEncoder { APICoding.encoder() }
}

/// Requires `Authorization: Bearer <token>` on every API route except health, and refuses an
/// address that failed too often in the last minute (429) before looking at its token.
struct TokenAuthMiddleware: RouterMiddleware {
    let core: ServerCore
    /// Failed API authentications per address; separate from the agent port's.
    let limiter: AddressLimiter

    func handle(_ request: Request, context: OperatorContext, next: (Request, OperatorContext) async throws -> Response) async throws -> Response {
        let now = ContinuousClock.now
        if let block = limiter.block(for: context.remoteKey, now: now) {
            core.registry.metrics.refused(by: .apiFailedAuthPerAddress)
            throw HTTPError(.tooManyRequests, headers: [.retryAfter: String(block.retryAfterSeconds)],
                            message: "too many failed API authentications from \(block.address) (\(block.failures) in the last minute); retry in \(block.retryAfterSeconds) s")
        }
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
            limiter.recordFailure(context.remoteKey, now: now)
            throw HTTPError(.unauthorized, message: "missing API token: send 'Authorization: Bearer <token>' (the CLI reads --token, GURURMM_TOKEN or DATA_DIR/admin.token)")
        }
        let secret = String(header.dropFirst("Bearer ".count)).trimmingCharacters(in: .whitespaces)
        let store = core.store
        guard let token = try await core.tokens.token(hash: CommandService.sha256Hex(secret), fetch: { try await store.apiToken(hash: $0) }) else {
            if limiter.recordFailure(context.remoteKey, now: now) {
                context.logger.warning("API authentication failures from \(context.remoteKey) reached the limit; refusing it for a minute")
            }
            throw HTTPError(.unauthorized, message: "API token not recognised or revoked")
        }
        guard let role = OperatorRole(rawValue: token.role) else {
            throw HTTPError(.forbidden, message: "API token '\(token.name)' has an unknown role '\(token.role)'")
        }
        var context = context
        context.operatorName = token.name
        context.operatorTokenId = token.id
        context.operatorRole = role
        return try await next(request, context)
    }
}

/// Refuses a NUL (`%00`) anywhere in the path or query. The store looks text up as C strings, which end
/// at a NUL, so `agents/web-1%00x` would otherwise find web-1: an id must name exactly what it says.
struct NULRefusingMiddleware: RouterMiddleware {
    typealias Context = OperatorContext

    func handle(_ request: Request, context: OperatorContext, next: (Request, OperatorContext) async throws -> Response) async throws -> Response {
        guard !request.uri.path.contains("%00"), !(request.uri.query?.contains("%00") ?? false) else {
            throw HTTPError(.badRequest, message: "NUL characters (%00) are not accepted in paths or query parameters")
        }
        return try await next(request, context)
    }
}

/// Turns domain errors into JSON errors with a message a person can act on.
struct ErrorMappingMiddleware: RouterMiddleware {
    typealias Context = OperatorContext

    func handle(_ request: Request, context: OperatorContext, next: (Request, OperatorContext) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as RequestError {
            throw HTTPError(HTTPResponse.Status(code: error.status), message: error.message)
        } catch let error as DecodingError {
            throw HTTPError(.badRequest, message: "request body is not valid: \(Self.describe(error))")
        } catch let error as HTTPError {
            // Hummingbird's own errors (no such route) come without a message; every API error has one.
            guard error.body == nil else { throw error }
            throw HTTPError(error.status, headers: error.headers,
                            message: "\(error.status.code) \(error.status.reasonPhrase): \(request.method) \(request.uri.path)")
        } catch StoreError.unavailable(let why) {
            // The database is away (restarting, cut off): a temporary state, so 503 and when to try
            // again rather than a 500 that reads as a bug.
            context.logger.warning("request failed: the database is unavailable: \(LogSafe.describe(why, limit: 400))")
            throw HTTPError(.serviceUnavailable, headers: [.retryAfter: String(Self.unavailableRetrySeconds)],
                            message: "the database is unavailable: \(why); retry in \(Self.unavailableRetrySeconds) s")
        } catch is NIOTooManyBytesError {
            throw HTTPError(.contentTooLarge, message: "request body is larger than \(context.maxUploadSize) bytes")
        } catch {
            context.logger.error("request failed: \(LogSafe.describe(error, limit: 400))")
            throw HTTPError(.internalServerError, message: "the server failed to handle this request; see the server log")
        }
    }

    /// The `Retry-After` of a 503 for an unavailable database: about one lease renewal.
    static let unavailableRetrySeconds = 5

    static func describe(_ error: DecodingError) -> String {
        switch error {
        case .keyNotFound(let key, _): return "missing field '\(key.stringValue)'"
        case .typeMismatch(_, let ctx), .valueNotFound(_, let ctx):
            return "wrong type for '\(ctx.codingPath.map(\.stringValue).joined(separator: "."))'"
        case .dataCorrupted(let ctx): return ctx.codingPath.isEmpty ? "not JSON" : "bad value for '\(ctx.codingPath.map(\.stringValue).joined(separator: "."))'"
        @unknown default: return "undecodable"
        }
    }
}
