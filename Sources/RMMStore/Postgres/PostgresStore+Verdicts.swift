import Foundation
import PostgresNIO
import RMMProtocol

extension PostgresStore {
    public func recordVerdict(_ record: VerdictRecord, keep: Int) async throws -> VerdictRecord {
        throw StoreError.unavailable("PostgresStore.recordVerdict is not implemented yet")
    }

    public func verdicts(agentId: String, limit: Int) async throws -> [VerdictRecord] {
        throw StoreError.unavailable("PostgresStore.verdicts is not implemented yet")
    }

    public func latestVerdicts(agentIds: [String], only: LinkVerdict?) async throws -> [String: VerdictRecord] {
        throw StoreError.unavailable("PostgresStore.latestVerdicts is not implemented yet")
    }

    public func noteDelay(commandIds: [String], note: String, once: String, now: Date) async throws -> [String] {
        throw StoreError.unavailable("PostgresStore.noteDelay is not implemented yet")
    }

    public func saveLinkDiagnosis(agentId: String, _ json: Data) async throws {
        throw StoreError.unavailable("PostgresStore.saveLinkDiagnosis is not implemented yet")
    }

    public func linkDiagnosis(agentId: String) async throws -> Data? {
        throw StoreError.unavailable("PostgresStore.linkDiagnosis is not implemented yet")
    }

    public func linkDiagnoses(agentIds: [String]) async throws -> [String: Data] {
        throw StoreError.unavailable("PostgresStore.linkDiagnoses is not implemented yet")
    }
}
