import Foundation
import RMMAPI
import RMMProtocol
import RMMTestSupport
import Testing

/// The batch lines' fast path against Foundation's coders: the same bytes written, the same values
/// read, and on anything else a decline that leaves the line to Foundation.
@Suite("BatchLineCodec")
struct BatchLineCodecTests {
    static let encoder = APICoding.encoder()
    static let decoder = APICoding.decoder()

    /// A command view with every optional field drawn present or absent, plain or awkward text,
    /// and dates and numbers from the whole range a record can hold.
    static func view(_ rng: inout SplitMix64, plain: Bool) -> CommandView {
        func text() -> String { plain ? "t\(rng.next() % 100_000)" : FuzzText.draw(&rng) }
        func maybe<T>(_ make: () -> T) -> T? { Bool.random(using: &rng) ? make() : nil }
        func date() -> Date {
            switch rng.next() % 4 {
            case 0: Date(timeIntervalSince1970: Double(rng.next() % 253_402_300_800) + Double(rng.next() % 1000) / 1000)
            case 1: Date(timeIntervalSince1970: 1_790_000_000 + Double(rng.next() % 100_000_000))
            case 2: Date(timeIntervalSince1970: plain ? 0 : -Double(rng.next() % 100_000_000_000))
            default: Date(timeIntervalSince1970: plain ? 253_402_300_799.999 : 253_402_300_800 + Double(rng.next() % 1_000_000))
            }
        }
        // Exponent forms (1e-07, 1e+20) are written fast but read by Foundation: not plain.
        let doubles: [Double] = [0, 0.1, 30, 86_400, 123_456_789.123, 2_592_000] + (plain ? [] : [1e-7, 1e20])
        let state = CommandState.allCases[Int(rng.next() % UInt64(CommandState.allCases.count))]
        return CommandView(
            id: text(), agentId: text(), agent: maybe(text), batchId: text(), kind: Bool.random(using: &rng) ? .shell : .script,
            text: text(), interpreter: maybe(text), state: state, terminal: state.isTerminal, reason: maybe(text),
            exitCode: maybe { Int32(truncatingIfNeeded: rng.next()) }, signal: maybe { Int32(truncatingIfNeeded: rng.next() % 64) },
            createdAt: date(), updatedAt: date(), expiresAt: date(), timeoutSeconds: doubles[Int(rng.next() % UInt64(doubles.count))],
            createdBy: text(), stdoutTruncated: Bool.random(using: &rng), stderrTruncated: Bool.random(using: &rng),
            stdout: maybe(text), stderr: maybe(text)
        )
    }

    static func line(_ rng: inout SplitMix64, plain: Bool) -> BatchStreamLine {
        switch rng.next() % 4 {
        case 0: return BatchStreamLine(command: view(&rng, plain: plain))
        case 1:
            let bytes = (0..<Int(rng.next() % 40)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let agent: String? = Bool.random(using: &rng) ? nil : plain ? "a\(rng.next() % 1000)" : FuzzText.draw(&rng)
            return BatchStreamLine(output: OutputView(agent: agent, commandId: plain ? "c\(rng.next() % 1000)" : FuzzText.draw(&rng),
                                                      stream: Bool.random(using: &rng) ? .stdout : .stderr,
                                                      offset: Int(truncatingIfNeeded: rng.next()) >> Int(rng.next() % 64), data: Data(bytes)))
        case 2: return BatchStreamLine(brief: CommandBrief(view(&rng, plain: plain)))
        default:
            return BatchStreamLine(end: BatchStreamEnd(version: Int(truncatingIfNeeded: rng.next()), done: Bool.random(using: &rng),
                                                       commands: Int(rng.next() % 20_000)))
        }
    }

    /// Foundation's reading of a line, written back: how two lines are compared.
    static func canonical(_ line: BatchStreamLine) throws -> Data { try encoder.encode(line) }

    @Test("the fast path writes Foundation's bytes, and reads them back as the same line")
    func agreesWithFoundation() throws {
        var rng = SplitMix64(seed: 20_261_205)
        var fast = 0, plainFast = 0
        for round in 0..<6_000 {
            let plain = round % 2 == 0
            let line = Self.line(&rng, plain: plain)
            let expected = try Self.encoder.encode(line)
            guard let bytes = BatchLineCodec.encode(line) else { continue }
            fast += 1
            if plain { plainFast += 1 }
            #expect(Data(bytes) == expected, "\(String(decoding: bytes, as: UTF8.self))\n\(String(decoding: expected, as: UTF8.self))")
            if let read = BatchLineCodec.decode(expected) {
                #expect(try Self.canonical(read) == expected)
            } else {
                // Declined: only for what the reader leaves to Foundation (an escaped string, an exponent).
                #expect(!plain, "a plain line was declined: \(String(decoding: expected, as: UTF8.self))")
            }
        }
        // Every plain line takes the fast path; awkward ones (escapes, dates outside 1970–9999) may not.
        #expect(plainFast == 3_000)
        #expect(fast > plainFast)
    }

    @Test("on damaged lines the fast path reads only what Foundation reads, as the same line")
    func damagedLines() throws {
        var rng = SplitMix64(seed: 5_122_026)
        let tokens = ["{", "}", ",", ":", "\"", "\\", "null", "true", "1", "-1", "1.5", "1e3", "01", "[]", "\"x\"", "\"agent_id\":\"a\"",
                      "2026-02-30", "T24:00:00Z", "\"extra\":1", "9223372036854775808", "é", "\u{0}"]
        var accepted = 0
        for _ in 0..<20_000 {
            var bytes = Array(try Self.encoder.encode(Self.line(&rng, plain: true)))
            for _ in 0..<(1 + Int(rng.next() % 3)) {
                let at = Int(rng.next() % UInt64(bytes.count + 1))
                switch rng.next() % 4 {
                case 0 where at < bytes.count: bytes[at] ^= UInt8(1 << (rng.next() % 8))
                case 1: bytes.removeSubrange(at..<min(bytes.count, at + 1 + Int(rng.next() % 8)))
                case 2: bytes.insert(contentsOf: Array(tokens[Int(rng.next() % UInt64(tokens.count))].utf8), at: at)
                default: bytes = Array(bytes.prefix(at))
                }
            }
            let data = Data(bytes)
            guard let fast = BatchLineCodec.decode(data) else { continue }
            accepted += 1
            let general = try Self.decoder.decode(BatchStreamLine.self, from: data)
            #expect(try Self.canonical(fast) == Self.canonical(general), "\(String(decoding: data, as: UTF8.self))")
        }
        // Some damage leaves a valid line (a flipped letter in an id): those must have been read.
        #expect(accepted > 100)
    }

    @Test("lines Foundation must judge are left to it", arguments: [
        #"{"end":{"commands":1,"done":true,"version":1},"output":null}"#,
        #"{"end":{"commands":1,"done":true,"version":1}} "#,
        #"{"end":{"commands":1,"done":true,"version":1,"extra":2}}"#,
        #"{"end":{"commands":1.0,"done":true,"version":1}}"#,
        #"{"end":{"commands":1e0,"done":true,"version":1}}"#,
        #"{"end":{"commands":1,"commands":2,"done":true,"version":1}}"#,
        #"{"end":{"commandS":1,"done":true,"version":1}}"#,
        #"{"output":{"command_id":"a\"b","data":"","offset":0,"stream":"stdout"}}"#,
        #"{"output":{"command_id":"a","data":"!!","offset":0,"stream":"stdout"}}"#,
        #"{"output":{"command_id":"a","data":"","offset":0,"stream":"stdin"}}"#,
        #"{"brief":{"agent_id":"a","id":"c","state":"finished"}}"#,
        #"{"brief":{"agent_id":"a","id":"c","signal":9,"state":"failed"}}"#,
        #"{"brief":{"id":"c","state":"failed"}}"#,
        #"{"brief":{"agent_id":"a","id":"c","state":"failed"},"end":{"commands":1,"done":true,"version":1}}"#,
    ])
    func declines(_ line: String) {
        #expect(BatchLineCodec.decode(Data(line.utf8)) == nil)
    }

    @Test("dates: Foundation's text for every second of 1970–9999, and nothing lenient read back")
    func internetDates() throws {
        var rng = SplitMix64(seed: 42)
        let encoder = JSONEncoder(), decoder = JSONDecoder()
        encoder.dateEncodingStrategy = .iso8601
        decoder.dateDecodingStrategy = .iso8601
        var samples = (0..<5_000).map { _ in Double(rng.next() % 253_402_300_800) + Double(rng.next() % 1000) / 1000 }
        samples += [0, 0.999, 951_782_400, 951_868_799.5, 4_107_542_400, 253_402_300_799.999]  // leap days of 2000 and 2100's non-leap
        for seconds in samples {
            let date = Date(timeIntervalSince1970: seconds)
            let expected = try encoder.encode([date])
            let text = try #require(InternetDate.text(date))
            #expect(Data("[\"".utf8 + text + "\"]".utf8) == expected)
            let read = try #require(InternetDate.date(text))
            #expect(read == (try decoder.decode([Date].self, from: expected))[0])
        }
        for outside in [-0.5, -1, 253_402_300_800, 1e12, -62_135_596_800] {
            #expect(InternetDate.text(Date(timeIntervalSince1970: outside)) == nil)
        }
        for lenient in ["2026-12-05T02:18:60Z", "2026-02-29T00:00:00Z", "2100-02-29T00:00:00Z", "2026-12-05T24:00:00Z",
                        "1969-12-31T23:59:59Z", "2026-12-05T02:18:02.5Z", "2026-12-05t02:18:02z", "2026-13-01T00:00:00Z",
                        "2026-00-10T00:00:00Z", "2026-04-31T00:00:00Z", "+026-12-05T02:18:02Z"] {
            #expect(InternetDate.date(Array(lenient.utf8)) == nil, "\(lenient)")
        }
        #expect(InternetDate.date(Array("2024-02-29T23:59:59Z".utf8)) == Date(timeIntervalSince1970: 1_709_251_199))
    }
}
