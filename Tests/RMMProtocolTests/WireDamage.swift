import Foundation
import PropertyBased
@testable import RMMProtocol

/// A frame as a hostile or broken peer might send it: a valid encoding and the damage done to it.
struct DamagedFrame: CustomStringConvertible {
    var original: String
    var steps: [String]
    var bytes: Data

    var description: String { "\(original) frame, \(steps.isEmpty ? "undamaged" : steps.joined(separator: "; ")): \(Self.show(bytes))" }

    /// The bytes as text where they are UTF-8 (control characters escaped), else as hex.
    static func show(_ data: Data) -> String {
        guard let text = String(data: data, encoding: .utf8) else { return "hex " + data.map { String(format: "%02x", $0) }.joined() }
        return text.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? String(format: "\\u%04x", $0.value) : String($0) }.joined()
    }
}

/// Ways to damage a frame: on its parsed JSON (wrong types, missing and extra fields, another type's
/// name, deep nesting) and on its bytes (bit flips, truncation, splices, huge numbers, stray tokens).
enum WireDamage {
    static let typeNames: [String] = {
        var rng: RNG = Xoshiro(seed: (1, 2, 3, 4))
        return WireGen.messages.map { $0(&rng).type }
    }()

    static let tokens = [
        "{", "}", "[", "]", ",", ":", "\"", "\\", "null", "true", "false", "-", "0", "-1", "1.5", "-0", "01", "0x10", "NaN", "Infinity",
        "1e999", "-1e999", "1e-999", "9223372036854775808", "-9223372036854775809", "99999999999999999999999", "\"v\":1", "\"seq\":",
        "\"ack\":", "\"body\":", "\"t\":\"chunk\"", "\\u0000", "\\ud800", "\\udc00\\ud800", "\u{FFFF}", "\u{FEFF}", "é", "\u{0}",
    ]

    static let frames = Generator<DamagedFrame, Shrink.None<DamagedFrame>> { rng in
        let envelope = WireGen.chance(4, &rng) ? WireGen.pick(Samples.envelopes, &rng) : WireGen.anyEnvelope(&rng)
        var frame = DamagedFrame(original: envelope.message.type, steps: [], bytes: (try? WireCodec().encode(envelope)) ?? Data())
        if WireGen.chance(2, &rng), let tree = try? JSONSerialization.jsonObject(with: frame.bytes) {
            var damaged = tree
            for _ in 0..<WireGen.int(in: 1...3, &rng) { damaged = damageTree(damaged, &rng, &frame.steps) }
            frame.bytes = (try? JSONSerialization.data(withJSONObject: damaged, options: [.fragmentsAllowed, .sortedKeys])) ?? frame.bytes
        }
        let byteSteps = WireGen.int(in: frame.steps.isEmpty ? 1...5 : 0...2, &rng)
        for _ in 0..<byteSteps { damageBytes(&frame, &rng) }
        return frame
    }

    // MARK: JSON damage

    private enum PathStep { case key(String), index(Int) }

    private static func paths(_ value: Any, _ prefix: [PathStep] = []) -> [[PathStep]] {
        var out = [prefix]
        if let object = value as? [String: Any] {
            for key in object.keys.sorted() { out += paths(object[key] ?? NSNull(), prefix + [.key(key)]) }
        } else if let array = value as? [Any] {
            for (i, child) in array.enumerated() { out += paths(child, prefix + [.index(i)]) }
        }
        return out
    }

    /// `change` gets the value at `path` (nil if absent) and returns its replacement (nil removes it).
    private static func update(_ value: Any, at path: ArraySlice<PathStep>, _ change: (Any?) -> Any?) -> Any? {
        guard let step = path.first else { return change(value) }
        switch step {
        case .key(let key):
            guard var object = value as? [String: Any] else { return value }
            if let child = object[key] {
                object[key] = update(child, at: path.dropFirst(), change)
            } else if path.count == 1 {
                object[key] = change(nil)
            }
            return object
        case .index(let i):
            guard var array = value as? [Any], array.indices.contains(i) else { return value }
            if let new = update(array[i], at: path.dropFirst(), change) { array[i] = new } else { array.remove(at: i) }
            return array
        }
    }

    /// A JSON value of any kind: the wrong type for nearly every field.
    private static func anyValue(_ rng: inout RNG) -> Any {
        switch WireGen.int(in: 0...8, &rng) {
        case 0: return NSNull()
        case 1: return Bool.random(using: &rng)
        case 2: return WireGen.integer(&rng)
        case 3: return WireGen.double(&rng)
        case 4: return WireGen.text(&rng)
        case 5: return [Any]()
        case 6: return [String: Any]()
        case 7: return WireGen.pick(typeNames, &rng)
        default:
            // Deep nesting, past what the JSON parser accepts (512 levels) at the far end.
            var nested: Any = WireGen.integer(&rng)
            let depth = WireGen.chance(2, &rng) ? WireGen.int(in: 1...40, &rng) : WireGen.int(in: 500...700, &rng)
            for _ in 0..<depth { nested = Bool.random(using: &rng) ? [nested] : ["a": nested] }
            return nested
        }
    }

    private static func damageTree(_ tree: Any, _ rng: inout RNG, _ steps: inout [String]) -> Any {
        let envelopeFields: [(String, [Any])] = [
            ("t", typeNames + ["", "CHUNK", "from_the_future", String(repeating: "t", count: 300)]),
            ("v", [0, 2, -1, "1", 1.5, NSNull(), Int.max]),
            ("seq", [0, -1, Int.max, Int.min, "1", 1.5, NSNull(), true]),
            ("ack", [0, -1, Int.max, Int.min, "1", 1.5, NSNull(), true]),
        ]
        if WireGen.chance(4, &rng) {
            let (key, values) = WireGen.pick(envelopeFields, &rng)
            let value = WireGen.pick(values, &rng)
            steps.append("\(key) := \(value)")
            return update(tree, at: [.key(key)][...]) { _ in value } ?? tree
        }
        let all = paths(tree).filter { !$0.isEmpty }
        guard !all.isEmpty else { return tree }
        let path = WireGen.pick(all, &rng)
        let name = path.map { step -> String in
            switch step {
            case .key(let k): return k
            case .index(let i): return String(i)
            }
        }.joined(separator: ".")
        switch WireGen.int(in: 0...3, &rng) {
        case 0:
            steps.append("remove \(name)")
            return update(tree, at: path[...]) { _ in nil } ?? tree
        case 1:
            let key = WireGen.text(&rng)
            steps.append("add \(name).\(key)")
            return update(tree, at: path[...]) { old in
                guard var object = old as? [String: Any] else { return old }
                object[key] = anyValue(&rng)
                return object
            } ?? tree
        default:
            let value = anyValue(&rng)
            steps.append("\(name) := \(String(describing: value).prefix(60))")
            return update(tree, at: path[...]) { _ in value } ?? tree
        }
    }

    // MARK: byte damage

    private static func damageBytes(_ frame: inout DamagedFrame, _ rng: inout RNG) {
        var bytes = [UInt8](frame.bytes)
        let at = bytes.isEmpty ? 0 : WireGen.int(in: 0...bytes.count - 1, &rng)
        let step: String
        switch WireGen.int(in: 0...8, &rng) {
        case 0 where !bytes.isEmpty:
            let bit = WireGen.int(in: 0...7, &rng)
            bytes[at] ^= 1 << bit
            step = "flip bit \(bit) of byte \(at)"
        case 1 where !bytes.isEmpty:
            bytes[at] = UInt8.random(in: 0...255, using: &rng)
            step = "set byte \(at)"
        case 2:
            let end = min(bytes.count, at + WireGen.int(in: 1...16, &rng))
            bytes.removeSubrange(at..<end)
            step = "delete \(at)..<\(end)"
        case 3:
            bytes = Array(bytes[..<at])
            step = "truncate at \(at)"
        case 4:
            let donor = [UInt8]((try? WireCodec().encode(WireGen.anyEnvelope(&rng))) ?? Data())
            let from = donor.isEmpty ? 0 : WireGen.int(in: 0...donor.count - 1, &rng)
            let piece = donor[from..<min(donor.count, from + WireGen.int(in: 1...64, &rng))]
            let end = min(bytes.count, at + WireGen.int(in: 0...64, &rng))
            bytes.replaceSubrange(at..<end, with: piece)
            step = "splice \(piece.count) bytes of another frame over \(at)..<\(end)"
        case 5:
            let end = min(bytes.count, at + WireGen.int(in: 1...64, &rng))
            bytes.insert(contentsOf: bytes[at..<end], at: end)
            step = "repeat \(at)..<\(end)"
        case 6 where bytes[at...].contains(where: { (0x30...0x39).contains($0) }):
            let digits = bytes[at...].firstIndex { (0x30...0x39).contains($0) } ?? at
            let end = bytes[digits...].firstIndex { !(0x30...0x39).contains($0) } ?? bytes.count
            let number = WireGen.pick(["1e999", "-1e999", "99999999999999999999999", "-9223372036854775809", "9223372036854775807", "1.5", "-0", "1e-999", "0"], &rng)
            bytes.replaceSubrange(digits..<end, with: Array(number.utf8))
            step = "number at \(digits) := \(number)"
        case 7:
            let open = WireGen.pick(["[", "{\"a\":", "[{\"b\":"], &rng)
            let depth = WireGen.int(in: 1...5000, &rng)
            bytes.insert(contentsOf: Array(String(repeating: open, count: depth).utf8), at: at)
            step = "nest \(depth)×\(open) at \(at)"
        default:
            let token = WireGen.pick(tokens, &rng)
            bytes.insert(contentsOf: Array(token.utf8), at: at)
            step = "insert \(token) at \(at)"
        }
        frame.steps.append(step)
        frame.bytes = Data(bytes)
    }
}
