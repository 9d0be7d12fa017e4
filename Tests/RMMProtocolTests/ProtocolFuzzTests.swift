import Crypto
import Foundation
import PropertyBased
import RMMTestSupport
import Testing
@testable import RMMProtocol

/// Randomized properties of everything that reads bytes from a peer: the codec, the chunk reassembler,
/// the opaque binary framing, enrollment tokens and signatures. Fixed seed by default; see `FuzzSettings`.
@Suite("Protocol fuzz")
struct ProtocolFuzzTests {
    static let codec = WireCodec()

    /// The longest one decode may take; far above what any input here needs, far below a hang.
    static let decodeDeadline: Duration = .seconds(3)

    /// What a decoder owes every input: it returns soon, and either a valid envelope that encodes and
    /// decodes back to itself, or a `WireDecodeError` (typed throws) whose text is one short line.
    static func checkDecode(_ data: Data, limit: Int = WireLimits.maxMessageBytes) throws -> Envelope? {
        let clock = ContinuousClock()
        let started = clock.now
        let outcome: Result<Envelope, WireDecodeError>
        do {
            outcome = .success(try codec.decode(data, limit: limit))
        } catch {
            outcome = .failure(error)
        }
        let took = clock.now - started
        try ensure(took < decodeDeadline, "decoding \(data.count) bytes took \(took)")
        switch outcome {
        case .success(let envelope):
            try ensure(envelope.version == WireLimits.protocolVersion, "accepted version \(envelope.version)")
            try ensure(!envelope.message.isReliable || envelope.seq != nil, "accepted a \(envelope.message.type) without seq")
            try ensure((envelope.seq ?? 1) >= 1 && (envelope.ack ?? 0) >= 0, "accepted seq \(String(describing: envelope.seq)), ack \(String(describing: envelope.ack))")
            let again = try codec.encode(envelope)
            try ensure(try codec.decode(again) == envelope, "a decoded \(envelope.message.type) does not survive encode and decode")
            return envelope
        case .failure(let error):
            let text = error.description
            try ensure(!text.contains { $0.isNewline } && text.count <= 300, "error text is not one short line: \(text.debugDescription)")
            return nil
        }
    }

    @Test("damaged frames of every message type decode to a valid message or a typed error, quickly")
    func damagedFrames() async {
        var accepted = 0, rejected = 0
        await WireDamage.frames.fuzz(iterations: 1500) { frame in
            if try Self.checkDecode(frame.bytes) != nil { accepted += 1 } else { rejected += 1 }
        }
        // The damage is varied enough that both outcomes occur (unless a replay runs very few cases).
        #expect((FuzzSettings.current.iterations ?? 1500) < 100 || (accepted > 0 && rejected > 0), "accepted \(accepted), rejected \(rejected)")
    }

    static let arbitraryFrames = Generator<Data, Shrink.None<Data>> { rng in
        switch WireGen.int(in: 0...2, &rng) {
        case 0: return WireGen.bytes(&rng)
        case 1:
            // JSON-ish token soup, sometimes behind a valid envelope head.
            let head = WireGen.chance(2, &rng) ? #"{"v":2,"t":"\#(WireGen.pick(WireDamage.typeNames, &rng))","seq":1,"body":"# : ""
            return Data((head + (0..<WireGen.int(in: 0...40, &rng)).map { _ in WireGen.pick(WireDamage.tokens, &rng) }.joined()).utf8)
        default:
            return Data(WireGen.text(&rng).utf8)
        }
    }

    @Test("arbitrary bytes and token soup decode to a valid message or a typed error, quickly")
    func arbitraryBytes() async {
        await Self.arbitraryFrames.fuzz(iterations: 1500) { data in
            _ = try Self.checkDecode(data)
            // The size limit comes before any parsing.
            if data.count > 1 {
                try ensure((try? Self.codec.decode(data, limit: data.count - 1)) == nil, "accepted \(data.count) bytes with a smaller limit")
            }
        }
    }

    @Test("generated messages of every type survive encode → (chunk → opaque frame →) decode")
    func roundTrip() async {
        let chunkCaps = Generator<Int, Shrink.None<Int>> { rng in WireGen.int(in: 1024...8192, &rng) }
        await zip(WireGen.everyType, chunkCaps).fuzz(iterations: 120) { envelopes, cap in
            try ensure(Set(envelopes.map(\.message.type)) == Set(Samples.envelopes.map(\.message.type)), "not every type generated")
            for envelope in envelopes {
                let data = try Self.codec.encode(envelope)
                // The JSON layer round-trips every value; the range check then takes only those in range.
                try ensure(try Self.codec.generalDecode(data) == envelope, "\(envelope.message.type) changed in a round trip")
                try ensure(try Self.codec.encode(try Self.codec.generalDecode(data)) == data, "\(envelope.message.type) encodes differently the second time")
                if let problem = envelope.rangeProblem() {
                    let outcome = Result { () throws(WireDecodeError) in try Self.codec.decode(data) }
                    guard case .failure(let error) = outcome else { throw FuzzViolation("\(envelope.message.type) with \(problem) was accepted") }
                    try ensure(error.description.contains("out of range"), "\(envelope.message.type) with \(problem) refused as \(error)")
                } else {
                    try ensure(try Self.codec.decode(data) == envelope, "\(envelope.message.type) in range changed in a round trip")
                }
                try ensure(OpaqueFraming.unwrap(OpaqueFraming.wrap(data)) == data, "opaque framing changed a \(envelope.message.type)")
                // Long messages travel as chunks, each a frame of its own within the cap.
                var chunker = Chunker()
                let frames = try chunker.frames(for: data, maxMessageBytes: cap)
                if data.count <= cap {
                    try ensure(frames == [data], "a message within the cap was chunked")
                    continue
                }
                var reassembler = Reassembler()
                var whole: Data?
                for frame in frames {
                    try ensure(frame.count <= cap, "a frame of \(frame.count) bytes over the cap \(cap)")
                    try ensure(whole == nil, "the reassembler finished early")
                    guard case .chunk(let chunk) = try Self.codec.decode(frame).message else { throw FuzzViolation("a frame is not a chunk") }
                    whole = try reassembler.add(chunk)
                }
                try ensure(whole == data, "chunking changed a \(envelope.message.type) of \(data.count) bytes at cap \(cap)")
            }
        }
    }

    // MARK: reassembler

    /// A chunked message and one way of breaking its chunk set.
    struct ChunkSet: CustomStringConvertible {
        enum Damage: String, CaseIterable { case none, swap, duplicate, dropMiddle, dropLast, recount, reid, oversize }
        var payload: Data
        var chunks: [Chunk]
        var damage: Damage
        /// A duplicate that comes after the last chunk starts a message of its own (or fails) once this one is whole.
        var duplicateAfterEnd = false
        var cap: Int
        var description: String {
            "\(damage) of \(payload.count) bytes in \(chunks.count) chunks, cap \(cap): "
                + chunks.map { "(\($0.id),\($0.index)/\($0.count),\($0.data.count)B)" }.joined(separator: " ")
        }
    }

    static let chunkSets = Generator<ChunkSet, Shrink.None<ChunkSet>> { rng in
        let payload = Data((0..<WireGen.int(in: 0...3000, &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) })
        let slice = WireGen.int(in: 1...700, &rng)
        let count = max(1, (payload.count + slice - 1) / slice)
        let id = WireGen.integer(&rng)
        var chunks = (0..<count).map { i in
            Chunk(id: id, index: i, count: count, data: payload.subdata(in: min(payload.count, i * slice)..<min(payload.count, (i + 1) * slice)))
        }
        // Damage that needs two chunks is only done to sets that have them.
        let damages = count >= 2 ? ChunkSet.Damage.allCases : [.none, .dropLast, .oversize]
        let damage = WireGen.pick(damages, &rng)
        var cap = WireLimits.maxMessageBytes
        var afterEnd = false
        switch damage {
        case .none: break
        case .swap:
            let i = WireGen.int(in: 0...count - 2, &rng), j = WireGen.int(in: i + 1...count - 1, &rng)
            chunks.swapAt(i, j)
        case .duplicate:
            let i = WireGen.int(in: 0...count - 1, &rng), at = WireGen.int(in: i + 1...count, &rng)
            chunks.insert(chunks[i], at: at)
            afterEnd = at == count
        case .dropMiddle: chunks.remove(at: WireGen.int(in: 0...count - 2, &rng))
        case .dropLast: chunks.removeLast()
        case .recount:
            // Not chunk 0: a first chunk that says "1 of 1" is a whole (shorter) message, not a broken one.
            let i = WireGen.int(in: 1...count - 1, &rng)
            chunks[i].count = WireGen.pick([0, -1, count - 1, count + 1, WireLimits.maxChunksPerMessage + 1, Int.max, Int.min], &rng)
        case .reid:
            let i = WireGen.int(in: 0...count - 1, &rng)
            chunks[i].id = id == Int.max ? 0 : id + 1
        case .oversize: cap = max(0, payload.count - WireGen.int(in: 1...max(1, payload.count), &rng))
        }
        return ChunkSet(payload: payload, chunks: chunks, damage: damage, duplicateAfterEnd: afterEnd, cap: cap)
    }

    @Test("the reassembler rebuilds whole chunk sets and rejects out-of-order, overlapping, broken and oversized ones")
    func reassembler() async {
        await Self.chunkSets.fuzz(iterations: 600) { set in
            var reassembler = Reassembler(maxMessageBytes: set.cap)
            var completed: [Data] = []
            var failure: WireDecodeError?
            for chunk in set.chunks {
                do {
                    if let whole = try reassembler.add(chunk) {
                        try ensure(whole.count <= set.cap, "returned \(whole.count) bytes over the cap \(set.cap)")
                        completed.append(whole)
                    }
                } catch let error as WireDecodeError {
                    failure = error
                    break
                }
            }
            let fits = set.payload.count <= set.cap
            if set.damage == .none || (set.damage == .oversize && fits) {
                try ensure(failure == nil && completed == [set.payload], "a whole set was not rebuilt: \(String(describing: failure))")
            } else if set.damage == .dropLast {
                try ensure(failure == nil && completed.isEmpty, "an incomplete set completed or failed: \(String(describing: failure))")
            } else if set.damage == .oversize {
                guard case .tooLarge? = failure else { throw FuzzViolation("an oversized set gave \(String(describing: failure))") }
                try ensure(completed.isEmpty, "an oversized set completed")
            } else if set.duplicateAfterEnd {
                try ensure(completed == [set.payload], "a whole set followed by a stray chunk was not rebuilt")
            } else {
                try ensure(failure != nil && completed.isEmpty, "a broken set was accepted")
            }
        }
    }

    /// Sequences of chunks with any values at all, as a hostile peer sends them.
    static let chunkSoup = Generator<[Chunk], Shrink.None<[Chunk]>> { rng in
        (0..<WireGen.int(in: 1...30, &rng)).map { _ in
            Chunk(id: WireGen.int(in: 0...3, &rng),
                  index: WireGen.chance(5, &rng) ? WireGen.integer(&rng) : WireGen.int(in: -1...6, &rng),
                  count: WireGen.chance(5, &rng) ? WireGen.integer(&rng) : WireGen.int(in: -2...6, &rng),
                  data: Data(repeating: 0x61, count: WireGen.int(in: 0...30, &rng)))
        }
    }

    @Test("any chunk sequence: the reassembler never returns more than its cap, and fails with a typed error")
    func chunkSequences() async {
        var completed = 0
        await Self.chunkSoup.fuzz(iterations: 600) { chunks in
            var reassembler = Reassembler(maxMessageBytes: 64)
            for chunk in chunks {
                do {
                    if let whole = try reassembler.add(chunk) {
                        completed += 1
                        try ensure(whole.count <= 64, "returned \(whole.count) bytes over the cap")
                    }
                } catch {
                    // After an error the link closes; a new connection starts afresh.
                    reassembler = Reassembler(maxMessageBytes: 64)
                }
            }
        }
        #expect((FuzzSettings.current.iterations ?? 600) < 100 || completed > 0)
    }

    // MARK: framing, tokens, signatures

    @Test("opaque framing: unwrap takes any frame, knows its own and inverts wrap")
    func opaqueFraming() async {
        let frames = Generator<Data, Shrink.None<Data>> { rng in
            var data = WireGen.bytes(&rng)
            if WireGen.chance(2, &rng) { data.insert(OpaqueFraming.marker, at: 0) }
            return WireGen.chance(3, &rng) ? data.dropFirst(min(data.count, 1)) : data  // a slice, not starting at index 0
        }
        await frames.fuzz(iterations: 800) { frame in
            let unwrapped = OpaqueFraming.unwrap(frame)
            try ensure((unwrapped != nil) == (frame.first == OpaqueFraming.marker), "unwrap misjudged the marker")
            if let unwrapped { try ensure(OpaqueFraming.wrap(unwrapped) == frame, "wrap does not invert unwrap") }
            try ensure(OpaqueFraming.unwrap(OpaqueFraming.wrap(frame)) == frame, "unwrap does not invert wrap")
        }
    }

    @Test("enrollment tokens: any text splits without trapping or hanging; real tokens give back the key")
    func enrollmentTokens() async {
        let tokens = Generator<(String, String?), Shrink.None<(String, String?)>> { rng in
            let secret = WireGen.text(&rng)
            guard WireGen.chance(2, &rng) else { return (secret + (Bool.random(using: &rng) ? "." + WireGen.text(&rng) : ""), nil) }
            let key = Curve25519.Signing.PrivateKey().publicKey.rawRepresentation.base64EncodedString()
            return (secret.replacingOccurrences(of: ".", with: "") + "." + WorkSigning.tokenKeyPart(key), key)
        }
        await tokens.fuzz(iterations: 800) { token, key in
            let clock = ContinuousClock()
            let started = clock.now
            let (secret, serverKey) = WorkSigning.splitEnrollmentToken(token)
            try ensure(clock.now - started < Self.decodeDeadline, "splitting took \(clock.now - started)")
            let scalars = token.unicodeScalars
            if let dot = scalars.firstIndex(of: ".") {
                try ensure(secret == String(scalars[..<dot]), "secret is not the part before the first dot")
                try ensure((serverKey?.utf8.count ?? 0) % 4 == 0, "key part is not padded base64")
            } else {
                try ensure(secret == token && serverKey == nil, "a token without a dot was split")
            }
            if let key { try ensure(serverKey == key, "the server key did not survive the token") }
        }
    }

    @Test("signatures: garbage never verifies and never traps; a changed byte breaks a real one")
    func signatures() async {
        let key = Curve25519.Signing.PrivateKey()
        let publicKey = key.publicKey.rawRepresentation.base64EncodedString()
        let inputs = Generator<(String, String, String, Int), Shrink.None<(String, String, String, Int)>> { rng in
            let garbage = WireGen.chance(2, &rng) ? WireGen.text(&rng) : WireGen.bytes(&rng).base64EncodedString()
            return (WireGen.text(&rng), WireGen.text(&rng), garbage, WireGen.int(in: 0...63, &rng))
        }
        await inputs.fuzz(iterations: 300) { nonce, agentId, garbage, flip in
            try ensure(!AgentProof.verify(signature: garbage, nonce: nonce, agentId: agentId, publicKey: publicKey), "garbage verified")
            try ensure(!AgentProof.verify(signature: garbage, nonce: nonce, agentId: agentId, publicKey: garbage), "garbage key verified")
            let payload = AgentProof.payload(nonce: nonce, agentId: agentId)
            try ensure(WorkSigning.problem(signature: garbage, payload: payload, publicKey: publicKey) != nil, "garbage signed work")
            let good = try AgentProof.sign(nonce: nonce, agentId: agentId, key: key)
            try ensure(AgentProof.verify(signature: good, nonce: nonce, agentId: agentId, publicKey: publicKey), "a real signature failed")
            var bytes = try #require(Data(base64Encoded: good))
            bytes[flip] ^= 1
            try ensure(!AgentProof.verify(signature: bytes.base64EncodedString(), nonce: nonce, agentId: agentId, publicKey: publicKey),
                       "a signature with byte \(flip) changed verified")
        }
    }

    // MARK: reliable streams

    /// Steps of a lossy link with a hostile peer: appends, lossy resends, and acks or resume positions of any value.
    enum LinkStep: CustomStringConvertible {
        case append, resend(lossOneIn: Int), ack(Int), resume(StreamPosition?), ackDelivered
        var description: String {
            switch self {
            case .append: return "append"
            case .resend(let n): return "resend(loss 1/\(n))"
            case .ack(let seq): return "ack(\(seq))"
            case .resume(let p): return "resume(\(p.map { "\($0.stream):\($0.seq)" } ?? "nil"))"
            case .ackDelivered: return "ackDelivered"
            }
        }
    }

    @Test("reliable streams: bogus acks never lose or repeat an item; lossy delivery stays in order")
    func reliableStreams() async {
        let steps = Generator<[LinkStep], Shrink.None<[LinkStep]>> { rng in
            (0..<WireGen.int(in: 1...120, &rng)).map { _ in
                switch WireGen.int(in: 0...9, &rng) {
                case 0...2: return .append
                case 3...5: return .resend(lossOneIn: WireGen.int(in: 2...4, &rng))
                case 6: return .ack(WireGen.integer(&rng))
                case 7: return .resume(WireGen.optional(&rng) { StreamPosition(stream: Bool.random(using: &$0) ? "srv" : WireGen.text(&$0), seq: WireGen.integer(&$0)) })
                default: return .ackDelivered
                }
            }
        }
        await steps.fuzz(iterations: 300) { steps in
            var box = ReliableOutbox<Int>(stream: "srv")
            var inbox = ReliableInbox()
            inbox.peerStream("srv")
            var delivered: [Int] = []
            var appended = 0
            var lossRNG = SplitMix64(seed: UInt64(steps.count))
            for step in steps {
                switch step {
                case .append:
                    appended += 1
                    _ = box.append(appended)
                case .resend(let lossOneIn):
                    for (seq, item) in box.unacknowledged where Int.random(in: 0..<lossOneIn, using: &lossRNG) != 0 {
                        if inbox.isNew(seq), seq == inbox.lastSeq + 1 {
                            delivered.append(item)
                            inbox.handled(seq)
                        }
                    }
                case .ack(let seq): box.acknowledge(through: min(seq, inbox.lastSeq))
                case .resume(let position): box.resume(peerSaw: position.map { StreamPosition(stream: $0.stream, seq: min($0.seq, inbox.lastSeq)) })
                case .ackDelivered: box.acknowledge(through: inbox.lastSeq)
                }
                try ensure(box.acked <= box.lastSeq && box.acked >= 0, "acked \(box.acked) of \(box.lastSeq)")
                try ensure(box.unacknowledged.allSatisfy { $0.seq > box.acked }, "an acknowledged item is still pending")
            }
            try ensure(delivered == Array(0..<delivered.count).map { $0 + 1 }, "delivered out of order or twice: \(delivered)")
            try ensure(box.unacknowledged.map(\.item) == Array((box.acked + 1)..<(appended + 1)), "an item was lost before delivery")
        }
    }
}
