import Foundation

/// Enrollment tokens and operator API tokens: the secrets that let an agent or an operator in,
/// kept by the SHA-256 (hex) of the secret.
public protocol TokenStore: Sendable {
    /// Stores a new enrollment token by the SHA-256 (hex) of its secret, and `audit`'s entry for
    /// it in the same transaction.
    func createEnrollmentToken(
        hash: String, expiresAt: Date?, uses: Int, now: Date, audit: (@Sendable (EnrollmentTokenRecord) -> AuditEntry)?
    ) async throws -> EnrollmentTokenRecord
    /// Revokes an enrollment token (`notFound` if unknown), with `audit` in the same transaction.
    func revokeEnrollmentToken(id: String, now: Date, audit: AuditEntry?) async throws
    func enrollmentTokens() async throws -> [EnrollmentTokenRecord]
    /// The enrollment token with this hash, whatever its state; it is only read (`gururmm doctor`
    /// checks a token without using it up).
    func enrollmentToken(hash: String) async throws -> EnrollmentTokenRecord?

    /// Stores an API token by the SHA-256 (hex) of its secret, and `audit`'s entry for it in the same transaction.
    func createAPIToken(name: String, role: String, hash: String, now: Date, audit: (@Sendable (APITokenRecord) -> AuditEntry)?) async throws -> APITokenRecord
    /// The live (not revoked) token with this hash.
    func apiToken(hash: String) async throws -> APITokenRecord?
    func apiTokens() async throws -> [APITokenRecord]
    /// Revokes an API token (`notFound` if unknown), with `audit` in the same transaction.
    func revokeAPIToken(id: String, now: Date, audit: AuditEntry?) async throws
}

extension TokenStore {
    /// The same without an audit entry (tests, tools).
    public func createEnrollmentToken(hash: String, expiresAt: Date?, uses: Int, now: Date) async throws -> EnrollmentTokenRecord {
        try await createEnrollmentToken(hash: hash, expiresAt: expiresAt, uses: uses, now: now, audit: nil)
    }

    /// The same without an audit entry (tests, tools).
    public func revokeEnrollmentToken(id: String, now: Date) async throws {
        try await revokeEnrollmentToken(id: id, now: now, audit: nil)
    }

    /// The same without an audit entry (tests, tools).
    public func createAPIToken(name: String, role: String, hash: String, now: Date) async throws -> APITokenRecord {
        try await createAPIToken(name: name, role: role, hash: hash, now: now, audit: nil)
    }

    /// The same without an audit entry (tests, tools).
    public func revokeAPIToken(id: String, now: Date) async throws {
        try await revokeAPIToken(id: id, now: now, audit: nil)
    }
}
