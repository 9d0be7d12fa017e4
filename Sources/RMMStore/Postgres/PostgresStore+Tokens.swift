import Foundation
import PostgresNIO
import RMMProtocol

extension PostgresStore {
    public func createEnrollmentToken( hash: String, expiresAt: Date?, uses: Int, now: Date, audit: (@Sendable (EnrollmentTokenRecord) -> AuditEntry)? ) async throws -> EnrollmentTokenRecord {
        throw StoreError.unavailable("PostgresStore.createEnrollmentToken is not implemented yet")
    }

    public func revokeEnrollmentToken(id: String, now: Date, audit: AuditEntry?) async throws {
        throw StoreError.unavailable("PostgresStore.revokeEnrollmentToken is not implemented yet")
    }

    public func enrollmentTokens() async throws -> [EnrollmentTokenRecord] {
        throw StoreError.unavailable("PostgresStore.enrollmentTokens is not implemented yet")
    }

    public func createAPIToken(name: String, role: String, hash: String, now: Date, audit: (@Sendable (APITokenRecord) -> AuditEntry)?) async throws -> APITokenRecord {
        throw StoreError.unavailable("PostgresStore.createAPIToken is not implemented yet")
    }

    public func apiToken(hash: String) async throws -> APITokenRecord? {
        throw StoreError.unavailable("PostgresStore.apiToken is not implemented yet")
    }

    public func apiTokens() async throws -> [APITokenRecord] {
        throw StoreError.unavailable("PostgresStore.apiTokens is not implemented yet")
    }

    public func revokeAPIToken(id: String, now: Date, audit: AuditEntry?) async throws {
        throw StoreError.unavailable("PostgresStore.revokeAPIToken is not implemented yet")
    }
}
