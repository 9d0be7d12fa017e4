import Foundation
import GRDB
import RMMTestSupport
@testable import RMMStore
import Testing

@Suite("JSONIdList")
struct JSONIdListTests {
    /// Byte for byte what SQLite's `json_each` makes of the list (it ends a text value at a NUL).
    static func values(_ list: String, in database: DatabaseQueue) throws -> [[UInt8]] {
        try database.read { db in
            try String.fetchAll(db, sql: "SELECT value FROM json_each(?) ORDER BY key", arguments: [list]).map { Array($0.utf8) }
        }
    }

    @Test("any ids, awkward text included, come out of SQLite's json_each as from Foundation's encoding, and as given without NULs")
    func roundTrip() throws {
        let database = try DatabaseQueue()
        var rng = SplitMix64(seed: 7)
        for count in [0, 1, 2, 500] {
            let ids = (0..<count).map { _ in FuzzText.draw(&rng) }
            let foundation = String(decoding: try JSONEncoder().encode(ids), as: UTF8.self)
            #expect(try Self.values(JSONIdList.text(ids), in: database) == Self.values(foundation, in: database))
            let plain = ids.map { $0.replacingOccurrences(of: "\u{0}", with: "") }
            #expect(try Self.values(JSONIdList.text(plain), in: database) == plain.map { Array($0.utf8) })
        }
    }
}
