import Foundation
import GRDB
import RMMProtocol

/// An agent's reports on its commands, applied together.
extension SQLiteStore {
    public func recordReports(_ reports: [CommandReport], agentId: String, now: Date) async throws -> [ReportEffect] {
        guard !reports.isEmpty else { return [] }
        return try await write { [versions] db in
            // An ack, a start and a result of one command often arrive together: each step starts
            // from the record the one before it left (as kept here) instead of reading the row
            // again, and each command's row is written once at the end, with one new version. Every
            // step's event is still stored (all of them together, at the end), so the history
            // shows each one.
            var scratch = WriteScratch(versions: versions)
            var latest: [String: CommandRecord] = [:]
            var unsaved: [String] = []  // in the order of their first change
            var unsavedSet: Set<String> = []
            var effects = try reports.map { report in
                let effect = try Self.apply(report, agentId: agentId, now: now, known: latest[report.commandId], &scratch, db)
                switch effect {
                case .changed(let record):
                    if report.movesLifecycle && unsavedSet.insert(record.id).inserted { unsaved.append(record.id) }
                    latest[record.id] = record
                case .unchanged(let record):
                    latest[record.id] = record
                case .unknown, .notOwned:
                    break
                }
                return effect
            }
            var saved: [String: Int] = [:]
            for id in unsaved {
                guard var record = latest[id] else { continue }
                try Self.saveLifecycle(&record, &scratch, db)
                saved[id] = record.version
            }
            try scratch.flush(db)
            // Every effect names the version its command's row now has.
            for index in effects.indices {
                if case .changed(var record) = effects[index], let version = saved[record.id] {
                    record.version = version
                    effects[index] = .changed(record)
                }
            }
            return effects
        }
    }

    /// One report inside the caller's transaction. The ownership check comes first and nothing is
    /// written for an unknown or foreign command, so those never leave a partial change behind.
    /// A lifecycle step's row is left to the caller to save.
    private static func apply(
        _ report: CommandReport, agentId: String, now: Date, known: CommandRecord?, _ scratch: inout WriteScratch, _ db: Database
    ) throws -> ReportEffect {
        guard let command = try known ?? command(id: report.commandId, db) else { return .unknown }
        guard command.agentId == agentId else { return .notOwned }
        switch report {
        case .acknowledged(_, let reason):
            return move(command, to: .delivered, reason: reason, now: now, &scratch).map(ReportEffect.changed) ?? .unchanged(command)
        case .started(_, let reason):
            return move(command, to: .running, reason: reason, now: now, &scratch).map(ReportEffect.changed) ?? .unchanged(command)
        case .output(_, let stream, let offset, let data, let cap):
            return try appendOutput(to: command, stream: stream, offset: offset, data: data, cap: cap, &scratch, db) ? .changed(command) : .unchanged(command)
        case .finished(_, let outcome):
            return try end(command, outcome: outcome, now: now, &scratch, db).map(ReportEffect.changed) ?? .unchanged(command)
        }
    }
}

extension CommandReport {
    /// True for the reports that move a command's state (all but live output).
    var movesLifecycle: Bool {
        if case .output = self { return false }
        return true
    }
}
