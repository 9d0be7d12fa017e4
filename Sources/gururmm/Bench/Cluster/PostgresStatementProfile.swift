import Foundation

/// Where a PostgreSQL configuration's database time went over one measured window: the statements
/// that cost most (from `pg_stat_statements`, normalised, so no values appear), the commits and
/// the WAL flushes, each per command so configurations compare side by side.
struct PostgresStatementProfile {
    /// One normalised statement's share of the window.
    struct Statement {
        var calls: Int
        var milliseconds: Double
        /// Planning time (a statement sent unprepared is planned at every call).
        var planMilliseconds: Double
        var rows: Int
        var text: String
    }

    var label: String
    var commands: Int
    var statements: [Statement]
    /// Execution and planning time of every statement in the window, not only the top ones.
    var totalMilliseconds: Double
    var commits: Int
    var walSyncs: Int

    /// How many statements the profile keeps.
    static let top = 10

    /// Parses the `psql -A -t` lines of `BenchPostgres.statementQuery` (fields split by `separator`).
    static func statements(from output: String, separator: Character) -> [Statement] {
        output.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: separator, omittingEmptySubsequences: false)
            guard fields.count == 5, let calls = Int(fields[0]), let milliseconds = Double(fields[1]), let plan = Double(fields[2]), let rows = Int(fields[3]) else { return nil }
            return Statement(calls: calls, milliseconds: milliseconds, planMilliseconds: plan, rows: rows, text: String(fields[4]))
        }
    }

    /// The profile as a Markdown table: per command, and each statement's share of the statement time.
    func render() -> [String] {
        let per = Double(max(commands, 1))
        var lines = [
            "| \(label): database work per command over \(commands) commands | calls per command | time per command (execution + planning) | planning | share | rows per call |",
            "|---|---|---|---|---|---|",
            "| all statements | — | \(Self.micro(totalMilliseconds / per)) | — | 100% | — |",
            "| commits (xact_commit) | \(String(format: "%.2f", Double(commits) / per)) | — | — | — | — |",
            "| WAL flushes (wal_sync) | \(String(format: "%.2f", Double(walSyncs) / per)) | — | — | — | — |",
        ]
        for statement in statements {
            let spent = statement.milliseconds + statement.planMilliseconds
            let share = spent / max(totalMilliseconds, 1e-9) * 100
            lines.append("| `\(statement.text.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "`", with: "'"))` | \(String(format: "%.2f", Double(statement.calls) / per)) "
                + "| \(Self.micro(spent / per)) | \(Self.micro(statement.planMilliseconds / per)) | \(String(format: "%.0f%%", share)) | \(String(format: "%.1f", Double(statement.rows) / Double(max(statement.calls, 1)))) |")
        }
        return lines
    }

    private static func micro(_ milliseconds: Double) -> String { String(format: "%.0f µs", milliseconds * 1000) }
}
