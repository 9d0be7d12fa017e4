import Foundation
import GRDB
import RMMProtocol

/// An agent's reports on its commands, applied together.
extension SQLiteStore {
    public func recordReports(_ reports: [CommandReport], agentId: String, now: Date) async throws -> [ReportEffect] {
        guard !reports.isEmpty else { return [] }
        return try await write { db in
            // An ack, a start and a result of one command often arrive together: each step starts
            // from the record the one before it left (as written in this transaction) instead of
            // reading the row again.
            var latest: [String: CommandRecord] = [:]
            return try reports.map { report in
                let effect = try Self.apply(report, agentId: agentId, now: now, known: latest[report.commandId], db)
                switch effect {
                case .changed(let record), .unchanged(let record): latest[record.id] = record
                case .unknown, .notOwned: break
                }
                return effect
            }
        }
    }

    /// One report inside the caller's transaction. The ownership check comes first and nothing is
    /// written for an unknown or foreign command, so those never leave a partial change behind.
    private static func apply(_ report: CommandReport, agentId: String, now: Date, known: CommandRecord?, _ db: Database) throws -> ReportEffect {
        guard let command = try known ?? command(id: report.commandId, db) else { return .unknown }
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
