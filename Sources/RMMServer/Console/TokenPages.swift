import Foundation
import Hummingbird
import RMMAPI
import RMMProtocol
import RMMStore

/// The API and enrollment tokens (admin: the same rules as the API's token routes, checked and
/// audited by the same `AccessTokenService`). A new token's secret is shown once, in the body of
/// the form's answer: never in a URL (no redirect carries it) and never logged.
struct TokenPages: Sendable {
    let core: ServerCore
    let pages: ConsolePages

    /// The enrollment form's default lifetime, hours.
    static let defaultExpiresHours = 24

    func add(to routes: RouterGroup<OperatorContext>) {
        routes.get("/tokens") { _, context in try await tokens(context) }
        routes.post("/tokens/new") { request, context in try await createAPIToken(request, context) }
        routes.post("/tokens/:id/revoke") { request, context in try await revoke(request, context) }
        routes.post("/enrollment-tokens/new") { request, context in try await createEnrollmentToken(request, context) }
        routes.post("/enrollment-tokens/:id/revoke") { request, context in try await revokeEnrollment(request, context) }
    }

    func tokens(_ context: OperatorContext) async throws -> Response {
        try context.require(.manageAPITokens)
        let csrf = context.consoleSession?.csrfSecret ?? ""
        let tokens = try await core.accessTokens.apiTokens().map { token -> [String: Any] in
            ["id": token.id, "name": token.name, "role": token.role, "created": AgentPages.time(token.createdAt),
             "revoked": token.revokedAt.map(AgentPages.time) ?? "", "live": token.revokedAt == nil, "csrf": csrf]
        }
        let enrollment = try await core.accessTokens.enrollmentTokens().map { token -> [String: Any] in
            ["id": token.id, "created": AgentPages.time(token.createdAt), "expires": token.expiresAt.map(AgentPages.time) ?? "never",
             "uses": String(token.usesLeft), "revoked": token.revokedAt.map(AgentPages.time) ?? "", "live": token.revokedAt == nil, "csrf": csrf]
        }
        let roles = OperatorRole.allCases.map { ["value": $0.rawValue, "label": $0.rawValue, "selected": $0 == .viewer] }
        return pages.render("tokens", title: "Tokens", operator: context.consoleOperator, values: [
            "tokens": tokens, "enrollment": enrollment, "roles": roles, "csrf": csrf, "expiresHours": String(Self.defaultExpiresHours),
        ])
    }

    /// Creates an API token as `POST /api/v1/tokens` does; the answer shows its secret once.
    func createAPIToken(_ request: Request, _ context: OperatorContext) async throws -> Response {
        let form = try await ConsoleForm.checked(request, context)
        try context.require(.manageAPITokens)
        let created = try await core.accessTokens.createAPIToken(
            APITokenRequest(name: form["name"] ?? "", role: form["role"] ?? ""), by: AuditActor(context), now: Date()
        )
        return showSecret(context, kind: "API token", id: created.id, secret: created.token ?? "",
                       what: "\(created.name) (\(created.role)). Log in to the console or call the API with it.")
    }

    /// Creates an enrollment token as `POST /api/v1/enrollment-tokens` does; the answer shows it once.
    func createEnrollmentToken(_ request: Request, _ context: OperatorContext) async throws -> Response {
        let form = try await ConsoleForm.checked(request, context)
        try context.require(.createEnrollmentTokens)
        let uses = try Self.number(form["uses"], "uses")
        let hours = try Self.number(form["expires_hours"], "expiry (hours)")
        let created = try await core.accessTokens.createEnrollmentToken(
            EnrollmentTokenRequest(expiresSeconds: hours.map { $0 * 3600 }, uses: uses.map { Int($0) }), by: AuditActor(context), now: Date()
        )
        let expires = created.expiresAt.map(AgentPages.time) ?? "never"
        return showSecret(context, kind: "enrollment token", id: created.id, secret: created.token ?? "",
                       what: "\(created.usesLeft) use\(created.usesLeft == 1 ? "" : "s"), expires \(expires). Give it to `gururmm agent --enroll-token-file`.")
    }

    /// Revokes an API token as `DELETE /api/v1/tokens/:id` does (its sessions end with it).
    func revoke(_ request: Request, _ context: OperatorContext) async throws -> Response {
        _ = try await ConsoleForm.checked(request, context)
        try context.require(.manageAPITokens)
        _ = try await core.accessTokens.revokeAPIToken(id: try context.parameters.require("id"), by: AuditActor(context), now: Date())
        return ConsolePages.redirect("/tokens")
    }

    /// Revokes an enrollment token as `DELETE /api/v1/enrollment-tokens/:id` does.
    func revokeEnrollment(_ request: Request, _ context: OperatorContext) async throws -> Response {
        _ = try await ConsoleForm.checked(request, context)
        try context.require(.revokeEnrollmentTokens)
        _ = try await core.accessTokens.revokeEnrollmentToken(id: try context.parameters.require("id"), by: AuditActor(context), now: Date())
        return ConsolePages.redirect("/tokens")
    }

    /// The page that shows a new secret, this once.
    private func showSecret(_ context: OperatorContext, kind: String, id: String, secret: String, what: String) -> Response {
        pages.render("token-created", title: "New \(kind)", operator: context.consoleOperator,
                     values: ["kind": kind, "id": id, "secret": secret, "what": what])
    }

    /// A whole number from a form field; nil when left empty (the API's default applies).
    static func number(_ text: String?, _ name: String) throws -> Double? {
        let trimmed = (text ?? "").trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty { return nil }
        guard trimmed.count <= 9, trimmed.allSatisfy(\.isASCII), let value = Int(trimmed), value > 0 else {
            throw RequestError(400, "\(name) must be a whole number above 0")
        }
        return Double(value)
    }
}
