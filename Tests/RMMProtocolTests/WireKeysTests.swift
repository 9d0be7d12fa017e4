import Foundation
import Testing
@testable import RMMProtocol

/// The codec's cached key conversion must give exactly what Foundation's strategies give.
@Suite("Wire keys")
struct WireKeysTests {
    static let keys = [
        "commandId", "lastPongRttMs", "recentPongRttMs", "myURLValue", "HTTPStatus", "v2Key", "x", "", "_leading", "trailing_",
        "a__b", "__", "already_snake", "snake_case_key", "ÄbcDef", "über_größe", "command_id", "last_pong_rtt_ms", "A_B_C", "aB_cD",
    ]

    /// A decoder whose container keys show what the strategy made of the JSON keys.
    private struct Keys: Decodable {
        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }
        let names: Set<String>
        init(from decoder: any Decoder) throws {
            names = Set(try decoder.container(keyedBy: Key.self).allKeys.map(\.stringValue))
        }
    }

    @Test("decoding: every key converts as convertFromSnakeCase would")
    func fromSnakeMatchesFoundation() throws {
        let json = try JSONEncoder().encode(Dictionary(uniqueKeysWithValues: Self.keys.map { ($0, 0) }))
        let foundation = JSONDecoder()
        foundation.keyDecodingStrategy = .convertFromSnakeCase
        let cached = JSONDecoder()
        cached.keyDecodingStrategy = WireKeys.decoding
        for _ in 0..<2 {  // the second pass answers from the cache
            #expect(try cached.decode(Keys.self, from: json).names == foundation.decode(Keys.self, from: json).names)
        }
    }

    @Test("encoding: every key converts as convertToSnakeCase would")
    func toSnakeMatchesFoundation() {
        let foundation = JSONEncoder()
        foundation.keyEncodingStrategy = .convertToSnakeCase
        for key in Self.keys {
            #expect(WireKeys.toSnake.converted(key) == WireKeys.foundationToSnake(key))
            #expect(WireKeys.toSnake.converted(key) == WireKeys.toSnake.converted(key))
        }
        #expect(WireKeys.toSnake.converted("lastPongRttMs") == "last_pong_rtt_ms")
        #expect(WireKeys.fromSnake.converted("last_pong_rtt_ms") == "lastPongRttMs")
    }

    @Test("the cache stops remembering at its limit and still converts exactly")
    func boundedCache() {
        let cache = KeyConversionCache(limit: 3) { WireKeys.foundationFromSnake($0) }
        for i in 0..<10 { #expect(cache.converted("peer_key_\(i)") == "peerKey\(i)") }
        #expect(cache.converted("peer_key_9") == "peerKey9")
        #expect(cache.count == 3)
    }
}
