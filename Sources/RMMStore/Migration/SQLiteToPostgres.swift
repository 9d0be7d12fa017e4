import Foundation
import GRDB
import PostgresNIO

/// Copies a single node's SQLite store into an empty PostgreSQL store, so a fleet moves to a
/// shared store without re-enrolling an agent: every row keeps its ids, keys, names and epochs.
///
/// Everything is written in one PostgreSQL transaction: a copy that fails leaves the database
/// empty. Tables are read in rowid order (which becomes `seq`, PostgreSQL's creation order), and
/// the counts in PostgreSQL are checked against SQLite's before the commit.
public enum SQLiteToPostgres {
    /// Rows copied into one table.
    public struct TableCount: Sendable, Equatable {
        public let table: String
        public let rows: Int
    }

    /// Copies `source` into `target`, which must hold no rows; returns the rows per table. The
    /// source must not change meanwhile (its server stopped).
    public static func copy(from source: SQLiteStore, to target: PostgresStore) async throws -> [TableCount] {
        let sourceCounts = try await source.read { db in
            try MigratedTables.all.map { table in
                TableCount(table: table.name, rows: try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table.name)") ?? 0)
            }
        }
        let logger = target.logger
        return try await target.write(unbounded: true) { connection in
            // Nothing else writes these tables while they are checked and filled.
            let names = MigratedTables.all.map(\.name).joined(separator: ", ")
            _ = try await connection.query(PostgresQuery(unsafeSQL: "LOCK TABLE \(names) IN SHARE ROW EXCLUSIVE MODE"), logger: logger)
            for table in MigratedTables.all where try await count(table.name, connection, logger) > 0 {
                throw StoreError.conflict("the PostgreSQL database is not empty (table \(table.name) has rows): migrate only into a new, empty database")
            }
            for table in MigratedTables.all {
                try await copyTable(table, from: source, into: connection, logger: logger)
            }
            var copied: [TableCount] = []
            for expected in sourceCounts {
                let rows = try await count(expected.table, connection, logger)
                guard rows == expected.rows else {
                    throw StoreError.corrupt("table \(expected.table): \(rows) rows copied of SQLite's \(expected.rows); nothing was committed")
                }
                copied.append(TableCount(table: expected.table, rows: rows))
            }
            return copied
        }
    }

    private static func count(_ table: String, _ connection: PostgresConnection, _ logger: Logger) async throws -> Int {
        let rows = try await connection.query(PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(table)"), logger: logger)
        for try await count in rows.decode(Int64.self) { return Int(count) }
        return 0
    }

    private static func copyTable(_ table: MigratedTables.Table, from source: SQLiteStore, into connection: PostgresConnection, logger: Logger) async throws {
        let read = table.columns.filter { $0.kind != .writerVersion }.map { $0.kind == .rowid ? "rowid" : $0.name }
        let select = "SELECT rowid, \(read.joined(separator: ", ")) FROM \(table.name) WHERE rowid > ? ORDER BY rowid LIMIT \(table.rowsPerInsert)"
        let insertHead = "INSERT INTO \(table.name) (\(table.columns.map(\.name).joined(separator: ", "))) OVERRIDING SYSTEM VALUE VALUES "
        var after: Int64 = .min
        while true {
            let from = after
            let chunk = try await source.read { db in
                try Row.fetchAll(db, sql: select, arguments: [from]).map { row in
                    (rowid: row[0] as Int64, values: (1..<row.count).map { row[$0] as DatabaseValue })
                }
            }
            guard let last = chunk.last else { break }
            after = last.rowid
            var bindings = PostgresBindings(capacity: chunk.count * read.count)
            var tuples: [String] = []
            tuples.reserveCapacity(chunk.count)
            for row in chunk {
                var values = row.values.makeIterator()
                var placeholders: [String] = []
                for column in table.columns {
                    if column.kind == .writerVersion {
                        placeholders.append(PostgresSchema.writerVersion)
                        continue
                    }
                    try bind(values.next() ?? .null, column, table: table.name, rowid: row.rowid, into: &bindings)
                    placeholders.append("$\(bindings.count)")
                }
                tuples.append("(" + placeholders.joined(separator: ", ") + ")")
            }
            _ = try await connection.query(PostgresQuery(unsafeSQL: insertHead + tuples.joined(separator: ", "), binds: bindings), logger: logger)
        }
        if let identity = table.identity {
            // The next row made in PostgreSQL numbers after the copied ones.
            _ = try await connection.query(PostgresQuery(unsafeSQL: """
                SELECT setval(pg_get_serial_sequence('\(table.name)', '\(identity)'),
                              COALESCE((SELECT max(\(identity)) FROM \(table.name)), 1), (SELECT count(*) > 0 FROM \(table.name)))
                """), logger: logger)
        }
    }

    /// Appends one SQLite value as the PostgreSQL type of `column`; a value of another type is
    /// `corrupt`, naming where it is.
    private static func bind(_ value: DatabaseValue, _ column: (name: String, kind: MigratedTables.Kind), table: String, rowid: Int64,
                             into bindings: inout PostgresBindings) throws {
        switch (column.kind, value.storage) {
        case (_, .null): bindings.appendNull()
        case (.text, .string(let text)): bindings.append(text)
        case (.double, .double(let number)): bindings.append(number)
        case (.double, .int64(let number)): bindings.append(Double(number))
        case (.integer, .int64(let number)), (.rowid, .int64(let number)): bindings.append(number)
        case (.boolean, .int64(let number)): bindings.append(number != 0)
        case (.bytes, .blob(let data)): try bindings.append(data)
        case (.bytes, .string(let text)): try bindings.append(Data(text.utf8))
        default:
            throw StoreError.corrupt("SQLite table \(table), rowid \(rowid), column \(column.name): \(value) is not a \(column.kind) value")
        }
    }
}
