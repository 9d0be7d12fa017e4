import Foundation
import RMMAPI

/// What an enrollment token or API token request must meet, and the secrets minted for them.
/// The checks are pure (the secrets are random); the messages are the API's 400 answers (openapi.yaml and the tests quote them).
enum AccessTokenRules {
    /// Uses of an enrollment token when the request names none.
    static let defaultUses = 1
    /// Lifetime of an enrollment token when the request names none: a day.
    static let defaultExpiresSeconds: Double = 86_400
    /// Longest enrollment token lifetime: a year.
    static let maxExpiresSeconds: Double = 365 * 86_400
    /// Longest API token name, in Unicode scalars (as openapi.yaml's maxLength counts).
    static let maxNameLength = 64

    /// An enrollment token's uses and lifetime in seconds, defaults filled in.
    static func enrollment(_ request: EnrollmentTokenRequest) throws -> (uses: Int, expiresSeconds: Double) {
        let uses = request.uses ?? defaultUses
        guard (1...100_000).contains(uses) else { throw RequestError(400, "uses must be 1...100000") }
        let expires = request.expiresSeconds ?? defaultExpiresSeconds
        guard expires > 0, expires <= maxExpiresSeconds else { throw RequestError(400, "expires_seconds must be between 0 and 31536000") }
        return (uses, expires)
    }

    /// An API token's name (trimmed) and role.
    static func apiToken(_ request: APITokenRequest) throws -> (name: String, role: OperatorRole) {
        let name = request.name.trimmingCharacters(in: .whitespaces)
        try RequestError.refuseNUL(name, in: "name")
        guard !name.isEmpty, name.unicodeScalars.count <= maxNameLength else { throw RequestError(400, "name must be 1...64 characters") }
        guard let role = OperatorRole(rawValue: request.role) else {
            throw RequestError(400, "role must be one of \(OperatorRole.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return (name, role)
    }

    /// A new enrollment secret (`gre_` and 128 random bits in hex).
    static func enrollmentSecret() -> String {
        "gre_" + randomPart(count: 2)
    }

    /// A new API token secret (`grt_` and 192 random bits in hex).
    static func apiSecret() -> String {
        "grt_" + randomPart(count: 3)
    }

    /// A new console session or CSRF secret (256 random bits in hex).
    static func consoleSecret() -> String {
        randomPart(count: 4)
    }

    private static func randomPart(count: Int) -> String {
        (0..<count).map { _ in CommandService.newId(prefix: "") }.joined()
    }
}
