import Foundation
import PostgresNIO

/// SQL assembled from parts, each value bound as a parameter (`$n`) as it is added: for the
/// statements whose shape depends on what one write holds (an audit entry or not, several CTEs).
struct PostgresStatement {
    private(set) var sql = ""
    private var binds = PostgresBindings()

    /// Appends SQL text (never a value: values go through `bind`).
    mutating func append(_ text: String) {
        sql += text
    }

    /// Binds `value` and returns its placeholder.
    mutating func bind<T: PostgresDynamicTypeEncodable>(_ value: T) -> String {
        binds.append(value)
        return "$\(binds.count)"
    }

    /// Binds `value`, or NULL, and returns its placeholder.
    mutating func bind<T: PostgresDynamicTypeEncodable>(_ value: T?) -> String {
        binds.append(value)
        return "$\(binds.count)"
    }

    /// Binds optional values as two arrays, the values (`fill` for a nil) and whether each is
    /// present, and returns the SQL that reads element `index` back as a value or NULL: PostgresNIO
    /// binds no array with NULL elements.
    mutating func bindNullable<T: PostgresArrayEncodable & PostgresNonThrowingEncodable>(_ values: [T?], fill: T) -> (values: String, present: String) {
        (bind(values.map { $0 ?? fill }), bind(values.map { $0 != nil }))
    }

    var query: PostgresQuery { PostgresQuery(unsafeSQL: sql, binds: binds) }

    /// The values bound so far, for a prepared statement whose text has the same placeholders.
    var bindings: PostgresBindings { binds }
}

/// The rows of an audit entry as `audit_log` holds them.
enum PostgresAuditRow {
    /// A CTE named `name` that appends `entry` to `audit_log`, only when `condition` (SQL) holds.
    static func cte(_ name: String, _ entry: AuditEntry, when condition: String = "TRUE", _ statement: inout PostgresStatement) throws {
        let targets = String(decoding: try JSONEncoder().encode(entry.targets), as: UTF8.self)
        let values = [
            statement.bind(entry.at.timeIntervalSinceReferenceDate), statement.bind(entry.actor), statement.bind(entry.tokenId),
            statement.bind(entry.role), statement.bind(entry.action), statement.bind(targets), statement.bind(entry.detail),
            statement.bind(entry.remote),
        ]
        statement.append("""
            \(name) AS (INSERT INTO audit_log (at, actor, token_id, role, action, targets, detail, remote)
                SELECT \(values[0])::float8, \(values[1])::text, \(values[2])::text, \(values[3])::text, \(values[4])::text,
                    \(values[5])::text, \(values[6])::text, \(values[7])::text
                WHERE \(condition))
            """)
    }
}
