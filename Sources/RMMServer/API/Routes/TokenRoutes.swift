import Foundation
import Hummingbird
import NIOCore
import RMMAPI
import RMMProtocol
import RMMStore

/// The token routes: enrollment tokens and API tokens (create, list, revoke).
enum TokenRoutes {
    static func collection(core: ServerCore) -> RouteCollection<OperatorContext> {
        let routes = RouteCollection(context: OperatorContext.self)
        routes.post("/enrollment-tokens") { request, context -> EditedResponse<EnrollmentTokenView> in
            try context.require(.admin)
            let body = try await request.decodeIfPresent(as: EnrollmentTokenRequest.self, context: context)
                ?? EnrollmentTokenRequest(expiresSeconds: nil, uses: nil)
            let uses = body.uses ?? 1
            guard (1...100_000).contains(uses) else { throw RequestError(400, "uses must be 1...100000") }
            let expires = body.expiresSeconds ?? 86_400
            guard expires > 0, expires <= 365 * 86_400 else { throw RequestError(400, "expires_seconds must be between 0 and 31536000") }
            // The token carries the server's signing key and TLS pin, so the agent trusts the
            // server with no extra step.
            let secret = "gre_" + CommandService.newId(prefix: "") + CommandService.newId(prefix: "")
            let now = Date()
            let record = try await core.store.createEnrollmentToken(
                hash: CommandService.sha256Hex(secret), expiresAt: now.addingTimeInterval(expires), uses: uses, now: now
            ) { record in
                ServerCore.auditEntry(context, "enrollment-tokens.create", targets: [record.id], detail: "uses \(uses), expires in \(Int(expires)) s")
            }
            let view = EnrollmentTokenView(record, secret: EnrollmentToken.compose(secret: secret, serverKey: core.registry.signer.publicKey, tlsTrust: core.enrollTrust))
            return EditedResponse(status: .created, response: view)
        }
        routes.get("/enrollment-tokens") { _, context -> [EnrollmentTokenView] in
            try context.require(.operator)
            return try await core.store.enrollmentTokens().map { EnrollmentTokenView($0, secret: nil) }
        }
        addRevokeRoute(routes, "/enrollment-tokens", core: core, what: "enrollment token", action: "enrollment-tokens.revoke") { id, audit in
            try await core.store.revokeEnrollmentToken(id: id, now: Date(), audit: audit)
            return "enrollment token \(id) revoked; enrollments with it are refused from now on"
        }
        routes.post("/tokens") { request, context -> EditedResponse<APITokenView> in
            try context.require(.admin)
            let body = try await request.decode(as: APITokenRequest.self, context: context)
            let name = body.name.trimmingCharacters(in: .whitespaces)
            try RequestError.refuseNUL(name, in: "name")
            // Counted in Unicode scalars, as openapi.yaml's maxLength counts.
            guard !name.isEmpty, name.unicodeScalars.count <= 64 else { throw RequestError(400, "name must be 1...64 characters") }
            guard let role = OperatorRole(rawValue: body.role) else {
                throw RequestError(400, "role must be one of \(OperatorRole.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let secret = "grt_" + CommandService.newId(prefix: "") + CommandService.newId(prefix: "") + CommandService.newId(prefix: "")
            let record = try await core.store.createAPIToken(name: name, role: role.rawValue, hash: CommandService.sha256Hex(secret), now: Date()) { record in
                ServerCore.auditEntry(context, "tokens.create", targets: [record.id], detail: "\(name) as \(role.rawValue)")
            }
            return EditedResponse(status: .created, response: APITokenView(record, secret: secret))
        }
        routes.get("/tokens") { _, context -> [APITokenView] in
            try context.require(.admin)
            return try await core.store.apiTokens().map { APITokenView($0, secret: nil) }
        }
        addRevokeRoute(routes, "/tokens", core: core, what: "API token", action: "tokens.revoke") { id, audit in
            try await core.store.revokeAPIToken(id: id, now: Date(), audit: audit)
            core.tokens.invalidate()
            return "token \(id) revoked; requests with it are refused from now on"
        }
        return routes
    }

    /// `DELETE <path>/{id}` (admin): `revoke` revokes by id, storing the audit entry (`action`) it
    /// is given in the same transaction, and says what that means; an id the store does not know is 404.
    private static func addRevokeRoute(
        _ routes: RouteCollection<OperatorContext>, _ path: String, core: ServerCore, what: String, action: String,
        revoke: @escaping @Sendable (String, AuditEntry) async throws -> String
    ) {
        routes.delete("\(path)/:id") { _, context -> OKView in
            try context.require(.admin)
            let id = try context.parameters.require("id")
            let message: String
            do {
                message = try await revoke(id, ServerCore.auditEntry(context, action, targets: [id], detail: ""))
            } catch StoreError.notFound {
                throw RequestError(404, "no \(what) with id \(id)")
            }
            return OKView(ok: true, message: message)
        }
    }
}
