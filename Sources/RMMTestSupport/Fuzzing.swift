import Foundation
import Testing

/// Seed and length of the randomized properties (the fuzz tests). `swift test` runs them with a
/// fixed seed, so every run checks the same inputs; `GURURMM_FUZZ_SEED` picks other inputs and
/// `GURURMM_FUZZ_ITERATIONS` sets how many cases every property checks (more for a long run, 1 to
/// replay the one case a failure names).
public struct FuzzSettings: Sendable {
    public static let seedVariable = "GURURMM_FUZZ_SEED"
    public static let iterationsVariable = "GURURMM_FUZZ_ITERATIONS"
    /// The seed of a plain `swift test`.
    public static let defaultSeed = "gururmm"

    /// The first case's seed.
    public var seed: FuzzSeed
    /// Cases per property, replacing each property's default; nil keeps the defaults.
    public var iterations: Int?
    /// Why an environment variable was not understood; a property fails rather than run with a guess.
    public var problem: String?

    public init(seed: FuzzSeed, iterations: Int? = nil) {
        self.seed = seed
        self.iterations = iterations
    }

    public init(environment: [String: String]) {
        seed = FuzzSeed(environment[Self.seedVariable] ?? Self.defaultSeed)
        if let text = environment[Self.iterationsVariable] {
            if let count = Int(text.trimmingCharacters(in: .whitespaces)), count >= 1 {
                iterations = count
            } else {
                problem = "\(Self.iterationsVariable) must be a whole number of at least 1, not '\(text)'"
            }
        }
    }

    public static let current = FuzzSettings(environment: ProcessInfo.processInfo.environment)
}

/// The state of a xoshiro256** generator (the one swift-property-based uses) that one case starts from.
/// Written as base64 of its 32 bytes; any other text (a number, a word) is hashed into a state.
public struct FuzzSeed: Sendable, CustomStringConvertible {
    public typealias Words = (UInt64, UInt64, UInt64, UInt64)
    public var words: Words

    public init(words: Words) {
        self.words = words
    }

    public init(_ text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if let data = Data(base64Encoded: trimmed), data.count == 32 {
            let w = stride(from: 0, to: 32, by: 8).map { at in data[at..<at + 8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) } }
            if w.contains(where: { $0 != 0 }) {
                words = (w[0], w[1], w[2], w[3])
                return
            }
        }
        // FNV-1a of the text, spread over the four words by SplitMix64 (never all zero).
        var mix = SplitMix64(seed: trimmed.utf8.reduce(0xCBF2_9CE4_8422_2325 as UInt64) { ($0 ^ UInt64($1)) &* 0x100_0000_01B3 })
        words = (mix.next(), mix.next(), mix.next(), mix.next())
    }

    public var description: String {
        var bytes: [UInt8] = []
        for word in [words.0, words.1, words.2, words.3] {
            bytes += (0..<8).map { UInt8(truncatingIfNeeded: word >> (8 * $0)) }
        }
        return Data(bytes).base64EncodedString()
    }
}

/// A property that does not hold, with what was seen.
public struct FuzzViolation: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Throws a `FuzzViolation` saying `message` unless `condition` holds.
public func ensure(_ condition: Bool, _ message: @autoclosure () -> String) throws(FuzzViolation) {
    if !condition { throw FuzzViolation(message()) }
}

/// Checks `property` on generated inputs: `iterations` cases by default, or `GURURMM_FUZZ_ITERATIONS`.
/// Each case draws its input from its own seed (`generate` advances the state), so the first case that
/// throws is reported with that seed and its input, and the run stops there. Properties report
/// violations by throwing (`ensure`, `#require`); a failing `#expect` would not name its case.
/// Returns whether every case passed.
@discardableResult
public func fuzz<Input>(
    iterations: Int,
    settings: FuzzSettings = .current,
    sourceLocation: SourceLocation = #_sourceLocation,
    generate: (inout FuzzSeed) -> Input,
    describe: (Input) -> String = { String(reflecting: $0) },
    _ property: (Input) async throws -> Void
) async -> Bool {
    if let problem = settings.problem {
        Issue.record(Comment(rawValue: problem), sourceLocation: sourceLocation)
        return false
    }
    let count = settings.iterations ?? iterations
    var seed = settings.seed
    for index in 0..<count {
        // Cases are CPU-bound and synchronous inside: give the (two-thread, on this machine)
        // cooperative pool back between them, or parallel tests' timers starve for seconds.
        await Task.yield()
        let caseSeed = seed
        let input = generate(&seed)
        do {
            try await property(input)
        } catch {
            let shown = describe(input)
            let text = """
                fuzz case \(index + 1) of \(count) failed: \(error)
                input: \(shown.count > 4000 ? String(shown.prefix(4000)) + "… (\(shown.count) characters)" : shown)
                replay this case: \(FuzzSettings.seedVariable)=\(caseSeed) \(FuzzSettings.iterationsVariable)=1 (this run's seed: \(settings.seed))
                """
            Issue.record(Comment(rawValue: text), sourceLocation: sourceLocation)
            return false
        }
    }
    return true
}

/// A tiny deterministic generator (SplitMix64) so randomized tests repeat exactly.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Text from the awkward corners, for any field a peer or an operator fills in.
public enum FuzzText {
    /// What it is made of: JSON's special characters, control characters, combining marks, emoji,
    /// a BOM, a bidi override, the last scalar, a grapheme-prepending mark, escapes and number-like words.
    public static let pieces = [
        "a", "Z", "0", " ", "_", "-", ".", "=", "\"", "\\", "/", "\n", "\r\n", "\t", "\u{0}", "\u{1F}", "\u{7F}", "é", "e\u{301}",
        "ß", "日本", "🦀", "👩‍👩‍👧", "🇩🇪", "\u{FEFF}", "\u{200B}", "\u{202E}", "\u{FFFF}", "\u{10FFFF}", "\u{0600}", "%", "%00", "%2F",
        "?", "#", "&", "+", "{", "}", "[", "]", ":", ",", "null", "true", "1e999", "\\u0000", "\\ud800", "<x>", "'", "$(", "..",
    ]

    /// Mostly short, sometimes a few hundred pieces long.
    public static func draw<R: RandomNumberGenerator>(_ rng: inout R) -> String {
        switch Int.random(in: 0...9, using: &rng) {
        case 0...3:
            let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
            return String((0..<Int.random(in: 0...12, using: &rng)).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &rng)] })
        case 4...7: return (0..<Int.random(in: 0...8, using: &rng)).map { _ in pieces[Int.random(in: 0..<pieces.count, using: &rng)] }.joined()
        case 8:
            let scalars = (0..<Int.random(in: 1...8, using: &rng)).compactMap { _ in Unicode.Scalar(UInt32.random(in: 0...0x10FFFF, using: &rng)) }
            return String(String.UnicodeScalarView(scalars))
        default: return (0..<Int.random(in: 100...1500, using: &rng)).map { _ in pieces[Int.random(in: 0..<pieces.count, using: &rng)] }.joined()
        }
    }
}
