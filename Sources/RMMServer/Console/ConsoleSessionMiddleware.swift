import Foundation
import Hummingbird
import RMMProtocol
import RMMStore

/// Finds the console session of the request's cookie and makes the request its token's: the
/// context gets the same operator fields `TokenAuthMiddleware` sets for the API, so roles and the
/// audit treat both alike. The store's lookup reads the session with its token in one statement
/// and refuses a revoked token's sessions, so a revocation on any node ends them at the next request.
/// Without a live session a page redirects to `/login`; anything else is refused (401).
struct ConsoleSessionMiddleware: RouterMiddleware {
    typealias Context = OperatorContext
    let store: any ConsoleSessionStore
    let policy: ConsoleSessionPolicy

    func handle(_ request: Request, context: OperatorContext, next: (Request, OperatorContext) async throws -> Response) async throws -> Response {
        let now = Date()
        guard let secret = request.cookies[ConsoleCookie.name]?.value, !secret.isEmpty,
              let found = try await store.consoleSession(hash: CommandService.sha256Hex(secret), now: now),
              let role = OperatorRole(rawValue: found.token.role) else {
            if request.method == .get || request.method == .head { return ConsolePages.redirect("/login") }
            throw RequestError(401, "your console session has ended (logged out, expired, or its token was revoked); log in again")
        }
        if let idle = policy.touch(found.session, now: now) {
            try await store.touchConsoleSession(id: found.session.id, idleExpiresAt: idle)
        }
        var context = context
        context.operatorName = found.token.name
        context.operatorTokenId = found.token.id
        context.operatorRole = role
        context.consoleSession = found.session
        return try await next(request, context)
    }
}

/// Turns a console request's errors into HTML pages (the API's are JSON), so a refusal reads as a
/// page with a way back, and the security headers still apply.
struct ConsoleErrorMiddleware: RouterMiddleware {
    typealias Context = OperatorContext
    let pages: ConsolePages

    func handle(_ request: Request, context: OperatorContext, next: (Request, OperatorContext) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as RequestError {
            let status = HTTPResponse.Status(code: error.status)
            return pages.message(status.reasonPhrase, error.message, status: status, operator: context.consoleOperator)
        } catch let error as HTTPError {
            let text = error.body ?? "\(error.status.code) \(error.status.reasonPhrase): \(request.method) \(request.uri.path)"
            return pages.message(error.status.reasonPhrase, text, status: error.status, operator: context.consoleOperator)
        } catch StoreError.unavailable(let why) {
            return pages.message("Database unavailable", "the database is unavailable: \(why); retry in a few seconds", status: .serviceUnavailable,
                                 operator: context.consoleOperator)
        } catch {
            context.logger.error("console request failed: \(LogSafe.describe(error, limit: 400))")
            return pages.message("Server error", "the server failed to handle this request; see the server log", status: .internalServerError,
                                 operator: context.consoleOperator)
        }
    }
}

extension OperatorContext {
    /// The header's operator part, when the request has a console session.
    var consoleOperator: ConsolePages.Operator? {
        guard let session = consoleSession else { return nil }
        return ConsolePages.Operator(name: operatorName ?? "?", role: operatorRole?.rawValue ?? "none", csrf: session.csrfSecret)
    }
}
