import Foundation
import PostgresNIO

/// Reads a result row's cells by position, defensively: a NULL where a value is expected, a value
/// of another type or an unknown name throws `StoreError.corrupt` naming the table, the row (by
/// its first column) and the column — never a crash.
struct PostgresRowReader {
    private let cells: [PostgresCell]
    private let table: String

    init(_ row: PostgresRow, table: String) {
        cells = Array(row)
        self.table = table
    }

    func value<T: PostgresDecodable>(_ index: Int, as type: T.Type = T.self) throws -> T {
        guard index < cells.count else { throw corrupt(index, "the row has only \(cells.count) columns") }
        let cell = cells[index]
        do {
            return try cell.decode(T.self)
        } catch {
            let found = cell.bytes.map { "\($0.readableBytes) bytes of \(cell.dataType)" } ?? "NULL"
            throw corrupt(index, "\(found) cannot be read as \(T.self)")
        }
    }

    /// A date stored as seconds since 2001-01-01.
    func date(_ index: Int) throws -> Date {
        Date(timeIntervalSinceReferenceDate: try value(index, as: Double.self))
    }

    func optionalDate(_ index: Int) throws -> Date? {
        try value(index, as: Double?.self).map { Date(timeIntervalSinceReferenceDate: $0) }
    }

    func enumValue<E: RawRepresentable>(_ index: Int, as type: E.Type) throws -> E where E.RawValue == String {
        let raw = try value(index, as: String.self)
        guard let parsed = E(rawValue: raw) else { throw corrupt(index, "unknown value '\(raw)'") }
        return parsed
    }

    /// JSON text decoded as `T`.
    func json<T: Decodable>(_ index: Int, as type: T.Type) throws -> T {
        let text = try value(index, as: String.self)
        guard let decoded = try? JSONDecoder().decode(T.self, from: Data(text.utf8)) else {
            throw corrupt(index, "unreadable JSON for \(T.self)")
        }
        return decoded
    }

    private func corrupt(_ index: Int, _ why: String) -> StoreError {
        let column = index < cells.count ? cells[index].columnName : "#\(index)"
        let key = cells.first.flatMap { cell in
            (try? cell.decode(String.self)) ?? (try? cell.decode(Int64.self)).map { String($0) }
        } ?? "?"
        return .corrupt("\(table) row \(key), column \(column): \(why)")
    }
}

extension PostgresConnection {
    /// Runs `query` and returns its rows, decoded by `decode`.
    func rows<T>(_ query: PostgresQuery, logger: Logger, _ decode: (PostgresRow) throws -> T) async throws -> [T] {
        var decoded: [T] = []
        for try await row in try await self.query(query, logger: logger) {
            decoded.append(try decode(row))
        }
        return decoded
    }

    /// Runs `query` and returns how many rows it returned (for `UPDATE ... RETURNING`, how many it changed).
    func count(_ query: PostgresQuery, logger: Logger) async throws -> Int {
        var count = 0
        for try await _ in try await self.query(query, logger: logger) { count += 1 }
        return count
    }
}
