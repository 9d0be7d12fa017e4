import Foundation
import Synchronization

/// The wire codec's key conversion (camelCase properties ↔ snake_case JSON keys), exactly as
/// Foundation's `convertToSnakeCase` / `convertFromSnakeCase` do it, but each distinct key is
/// converted once and then looked up. Foundation converts every key of every message again
/// (splitting, lowercasing, capitalizing): on a link-report-shaped message of 25 keys, decoding
/// took 86 µs with its strategy and 32 µs with this one, and decoding was a third of an idle
/// fleet's server CPU.
enum WireKeys {
    static let decoding: JSONDecoder.KeyDecodingStrategy = .custom { path in
        ConvertedKey(fromSnake.converted(path.last?.stringValue ?? ""))
    }

    static let encoding: JSONEncoder.KeyEncodingStrategy = .custom { path in
        ConvertedKey(toSnake.converted(path.last?.stringValue ?? ""))
    }

    /// Keys come from the peer here, so the cache is bounded: past it, keys are converted (still
    /// exactly, only slower) without being remembered. A peer that fills it with junk keys (before
    /// authenticating, even) costs later uncached keys one probe each, about 7 µs — roughly twice
    /// what Foundation's own conversion costs; the protocol's keys are normally cached by then
    /// from the first agents' messages.
    static let fromSnake = KeyConversionCache(limit: 4096) { key in
        // Foundation leaves a key without an underscore as it is.
        key.utf8.contains(UInt8(ascii: "_")) ? foundationFromSnake(key) : key
    }

    /// Keys come from our own types here (a fixed set), never from the peer.
    static let toSnake = KeyConversionCache(limit: 4096) { key in foundationToSnake(key) }

    /// Foundation's own conversion of one key, read back from a one-key object.
    static func foundationFromSnake(_ key: String) -> String {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        guard let json = try? JSONEncoder().encode([key: 0]), let probe = try? decoder.decode(FirstKey.self, from: json) else { return key }
        return probe.key ?? key
    }

    /// Foundation's own conversion of one key, read back from a one-key object.
    static func foundationToSnake(_ key: String) -> String {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        guard let json = try? encoder.encode(OneKey(key: key)), let written = try? JSONDecoder().decode([String: Int].self, from: json) else { return key }
        return written.keys.first ?? key
    }

    private struct ConvertedKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ stringValue: String) { self.stringValue = stringValue }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// Decodes an object and keeps its first key as the decoder's key strategy made it.
    private struct FirstKey: Decodable {
        let key: String?
        init(from decoder: any Decoder) throws {
            key = try decoder.container(keyedBy: ConvertedKey.self).allKeys.first?.stringValue
        }
    }

    /// Encodes an object with one key, through the encoder's key strategy.
    private struct OneKey: Encodable {
        let key: String
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: ConvertedKey.self)
            try container.encode(0, forKey: ConvertedKey(key))
        }
    }
}

/// Remembers up to `limit` conversions of one direction; thread-safe.
final class KeyConversionCache: Sendable {
    private let known = Mutex<[String: String]>([:])
    private let limit: Int
    private let convert: @Sendable (String) -> String

    init(limit: Int, convert: @escaping @Sendable (String) -> String) {
        self.limit = limit
        self.convert = convert
    }

    /// Conversions remembered (tests).
    var count: Int { known.withLock { $0.count } }

    func converted(_ key: String) -> String {
        if let hit = known.withLock({ $0[key] }) { return hit }
        let value = convert(key)
        known.withLock { if $0.count < limit { $0[key] = value } }
        return value
    }
}
