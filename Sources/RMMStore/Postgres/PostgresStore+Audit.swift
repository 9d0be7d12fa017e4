import Foundation
import PostgresNIO
import RMMProtocol

extension PostgresStore {
    public func appendAudit(_ entry: AuditEntry) async throws {
        throw StoreError.unavailable("PostgresStore.appendAudit is not implemented yet")
    }

    public func auditLog(limit: Int) async throws -> [AuditEntry] {
        throw StoreError.unavailable("PostgresStore.auditLog is not implemented yet")
    }
}
