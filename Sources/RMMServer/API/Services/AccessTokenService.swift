import Foundation
import RMMAPI
import RMMProtocol
import RMMStore

/// Enrollment tokens and API tokens: mints their secrets (stored only as SHA-256), applies
/// `AccessTokenRules`, stores each change with its audit entry, and empties the API token cache
/// after a revocation so that it takes effect at once.
struct AccessTokenService: Sendable {
    let store: any TokenStore
    /// The server's signing key, carried by enrollment tokens so the agent trusts its work.
    let serverKey: String
    /// The TLS trust part of enrollment tokens (a key pin or `system`); nil for a plain server.
    let enrollTrust: String?
    let cache: APITokenCache

    /// A new enrollment token; its view carries the composed secret, shown this once.
    func createEnrollmentToken(_ request: EnrollmentTokenRequest, by actor: AuditActor, now: Date) async throws -> EnrollmentTokenView {
        let (uses, expires) = try AccessTokenRules.enrollment(request)
        let secret = AccessTokenRules.enrollmentSecret()
        let record = try await store.createEnrollmentToken(
            hash: CommandService.sha256Hex(secret), expiresAt: now.addingTimeInterval(expires), uses: uses, now: now
        ) { record in
            actor.entry("enrollment-tokens.create", targets: [record.id], detail: "uses \(uses), expires in \(Int(expires)) s", at: now)
        }
        // The token carries the server's signing key and TLS pin, so the agent trusts the
        // server with no extra step.
        return EnrollmentTokenView(record, secret: EnrollmentToken.compose(secret: secret, serverKey: serverKey, tlsTrust: enrollTrust))
    }

    func enrollmentTokens() async throws -> [EnrollmentTokenView] {
        try await store.enrollmentTokens().map { EnrollmentTokenView($0, secret: nil) }
    }

    /// Revokes an enrollment token; says what that means.
    func revokeEnrollmentToken(id: String, by actor: AuditActor, now: Date) async throws -> String {
        try await revoking(id, what: "enrollment token") {
            try await store.revokeEnrollmentToken(id: id, now: now, audit: actor.entry("enrollment-tokens.revoke", targets: [id], detail: "", at: now))
        }
        return "enrollment token \(id) revoked; enrollments with it are refused from now on"
    }

    /// A new API token; its view carries the secret, shown this once.
    func createAPIToken(_ request: APITokenRequest, by actor: AuditActor, now: Date) async throws -> APITokenView {
        let (name, role) = try AccessTokenRules.apiToken(request)
        let secret = AccessTokenRules.apiSecret()
        let record = try await store.createAPIToken(name: name, role: role.rawValue, hash: CommandService.sha256Hex(secret), now: now) { record in
            actor.entry("tokens.create", targets: [record.id], detail: "\(name) as \(role.rawValue)", at: now)
        }
        return APITokenView(record, secret: secret)
    }

    func apiTokens() async throws -> [APITokenView] {
        try await store.apiTokens().map { APITokenView($0, secret: nil) }
    }

    /// Revokes an API token, and forgets the cached ones so that it is refused from the next request.
    func revokeAPIToken(id: String, by actor: AuditActor, now: Date) async throws -> String {
        try await revoking(id, what: "API token") {
            try await store.revokeAPIToken(id: id, now: now, audit: actor.entry("tokens.revoke", targets: [id], detail: "", at: now))
        }
        cache.invalidate()
        return "token \(id) revoked; requests with it are refused from now on"
    }

    /// Runs a revocation; an id the store does not know is 404.
    private func revoking(_ id: String, what: String, _ revoke: () async throws -> Void) async throws {
        do {
            try await revoke()
        } catch StoreError.notFound {
            throw RequestError(404, "no \(what) with id \(id)")
        }
    }
}
