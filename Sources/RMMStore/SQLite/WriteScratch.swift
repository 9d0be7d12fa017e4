import Foundation
import GRDB
import RMMProtocol

/// What one store write keeps until its end: the history events it adds, inserted together, a
/// few rows per statement, and where its change-counter versions come from.
///
/// Why: a fan-out's writes add three to five events per command; one statement each was a fifth
/// of the writer's time.
struct WriteScratch {
    private struct Event {
        var commandId: String
        var state: CommandState
        var at: Date
        var reason: String?
    }

    private var events: [Event] = []
    private let versions: VersionCounter

    init(versions: VersionCounter) {
        self.versions = versions
    }

    /// The next version, greater than every version taken before by any write.
    func version(_ db: Database) throws -> Int {
        try versions.next(db)
    }

    /// A history event, stored by `flush` in the order added.
    mutating func event(_ commandId: String, _ state: CommandState, at: Date, reason: String?) {
        events.append(Event(commandId: commandId, state: state, at: at, reason: reason))
    }

    /// Stores the events added so far: up to `rowsPerStatement` per statement (each row count's
    /// statement is compiled once and cached).
    mutating func flush(_ db: Database) throws {
        var start = 0
        while start < events.count {
            let rows = events[start..<min(start + Self.rowsPerStatement, events.count)]
            var arguments: [(any DatabaseValueConvertible)?] = []
            arguments.reserveCapacity(rows.count * 4)
            for event in rows { arguments += [event.commandId, event.state.rawValue, event.at.dbSeconds, event.reason] }
            try db.executeCached(sql: Self.insertEvents(rows.count), arguments: StatementArguments(arguments))
            start += rows.count
        }
        events.removeAll(keepingCapacity: true)
    }

    private static let rowsPerStatement = 32

    private static func insertEvents(_ rows: Int) -> String {
        "INSERT INTO command_events (command_id, state, occurred_at, reason) VALUES "
            + Array(repeating: "(?, ?, ?, ?)", count: rows).joined(separator: ", ")
    }
}
