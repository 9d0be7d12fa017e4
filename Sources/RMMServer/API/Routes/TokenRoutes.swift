import Foundation
import Hummingbird
import NIOCore
import RMMAPI
import RMMProtocol
import RMMStore

/// The token routes: enrollment tokens and API tokens (create, list, revoke), over `AccessTokenService`.
enum TokenRoutes {
    static func collection(core: ServerCore) -> RouteCollection<OperatorContext> {
        let routes = RouteCollection(context: OperatorContext.self)
        routes.post("/enrollment-tokens") { request, context -> EditedResponse<EnrollmentTokenView> in
            try context.require(.createEnrollmentTokens)
            let body = try await request.decodeIfPresent(as: EnrollmentTokenRequest.self, context: context)
                ?? EnrollmentTokenRequest(expiresSeconds: nil, uses: nil)
            let view = try await core.accessTokens.createEnrollmentToken(body, by: AuditActor(context), now: Date())
            return EditedResponse(status: .created, response: view)
        }
        routes.get("/enrollment-tokens") { _, context -> [EnrollmentTokenView] in
            try context.require(.listEnrollmentTokens)
            return try await core.accessTokens.enrollmentTokens()
        }
        routes.delete("/enrollment-tokens/:id") { _, context -> OKView in
            try context.require(.revokeEnrollmentTokens)
            let id = try context.parameters.require("id")
            return OKView(ok: true, message: try await core.accessTokens.revokeEnrollmentToken(id: id, by: AuditActor(context), now: Date()))
        }
        routes.post("/tokens") { request, context -> EditedResponse<APITokenView> in
            try context.require(.manageAPITokens)
            let body = try await request.decode(as: APITokenRequest.self, context: context)
            let view = try await core.accessTokens.createAPIToken(body, by: AuditActor(context), now: Date())
            return EditedResponse(status: .created, response: view)
        }
        routes.get("/tokens") { _, context -> [APITokenView] in
            try context.require(.manageAPITokens)
            return try await core.accessTokens.apiTokens()
        }
        routes.delete("/tokens/:id") { _, context -> OKView in
            try context.require(.manageAPITokens)
            let id = try context.parameters.require("id")
            return OKView(ok: true, message: try await core.accessTokens.revokeAPIToken(id: id, by: AuditActor(context), now: Date()))
        }
        return routes
    }
}
