import Foundation
import GRDB
import RMMProtocol

/// An agent's reports on its commands, applied together.
extension SQLiteStore {
    public func recordReports(_ reports: [CommandReport], agentId: String, now: Date) async throws -> [ReportEffect] {
        guard !reports.isEmpty else { return [] }
        return try await write { db in
            try reports.map { report in try Self.apply(report, agentId: agentId, now: now, db) }
        }
    }

    /// One report inside the caller's transaction. The ownership check comes first and nothing is
    /// written for an unknown or foreign command, so those never leave a partial change behind.
    private static func apply(_ report: CommandReport, agentId: String, now: Date, _ db: Database) throws -> ReportEffect {
        guard let command = try command(id: report.commandId, db) else { return .unknown }
        guard command.agentId == agentId else { return .notOwned }
        switch report {
        case .acknowledged(_, let reason):
            return try transition(command, to: .delivered, reason: reason, now: now, db).map(ReportEffect.changed) ?? .unchanged(command)
        case .started(_, let reason):
            return try transition(command, to: .running, reason: reason, now: now, db).map(ReportEffect.changed) ?? .unchanged(command)
        case .output(_, let stream, let offset, let data, let cap):
            return try appendOutput(to: command, stream: stream, offset: offset, data: data, cap: cap, db) ? .changed(command) : .unchanged(command)
        case .finished(_, let outcome):
            return try finish(command, outcome: outcome, now: now, db).map(ReportEffect.changed) ?? .unchanged(command)
        }
    }
}
