import Foundation
import RMMTestSupport
import Testing
@testable import RMMProtocol

@Suite("Chunker and Reassembler")
struct ChunkingTests {
    let codec = WireCodec()

    /// An encoded `result` envelope of about `bytes` bytes (stdout is random, so base64 is incompressible).
    static func bigEnvelope(bytes: Int, seed: UInt64 = 7) -> Envelope {
        var rng = SplitMix64(seed: seed)
        let raw = Data((0..<(bytes * 3 / 4)).map { _ in UInt8.random(in: 0...255, using: &rng) })
        return Envelope(.result(CommandResult(commandId: "c_big", status: .succeeded, exitCode: 0, stdout: raw, finishedAt: 1)), seq: 9, ack: 3)
    }

    @Test("a message under the cap is sent as is")
    func smallPassesThrough() throws {
        var chunker = Chunker()
        let encoded = try codec.encode(Samples.envelopes[9])
        #expect(try chunker.frames(for: encoded, maxMessageBytes: encoded.count) == [encoded])
    }

    @Test("a 3 MiB envelope splits into frames within the cap and reassembles to the same bytes",
          arguments: [WireLimits.defaultChunkBytes, 1024, 4096, 100_000, WireLimits.maxFrameBytes / 2])
    func threeMiB(cap: Int) throws {
        let envelope = Self.bigEnvelope(bytes: 3 << 20)
        let encoded = try codec.encode(envelope)
        #expect(encoded.count > 3 << 20 - 1024)
        var chunker = Chunker()
        let frames = try chunker.frames(for: encoded, maxMessageBytes: cap)
        #expect(frames.count > 1)
        #expect(frames.count <= WireLimits.maxChunksPerMessage)
        let oversize = frames.enumerated().filter { $0.element.count > cap }.map { "\($0.offset): \($0.element.count)" }
        #expect(oversize.isEmpty, "frames over the cap of \(cap): \(oversize.prefix(3))")

        var reassembler = Reassembler()
        var whole: Data?
        for (i, frame) in frames.enumerated() {
            let decoded = try codec.decode(frame)
            #expect(decoded.seq == nil)
            guard case .chunk(let chunk) = decoded.message else {
                Issue.record("frame \(i) is \(decoded.message.type)")
                return
            }
            #expect(chunk.index == i)
            #expect(chunk.count == frames.count)
            #expect(chunk.id == 1)
            let out = try reassembler.add(chunk)
            if i < frames.count - 1 { #expect(out == nil) } else { whole = out }
        }
        let bytes = try #require(whole)
        #expect(bytes == encoded)
        #expect(try codec.decode(bytes) == envelope)
    }

    @Test("frame sizes stay within the cap for caps from 1 KiB up (seeded sweep)")
    func capSweep() throws {
        var rng = SplitMix64(seed: 42)
        let encoded = try codec.encode(Self.bigEnvelope(bytes: 200_000, seed: 3))
        var chunker = Chunker()
        for _ in 0..<40 {
            let cap = Int.random(in: 1024...150_000, using: &rng)
            let frames = try chunker.frames(for: encoded, maxMessageBytes: cap)
            #expect(frames.allSatisfy { $0.count <= cap }, "cap \(cap)")
        }
    }

    @Test("each chunked message gets a new id")
    func idsGrow() throws {
        var chunker = Chunker()
        let encoded = Data(repeating: 0x41, count: 5000)
        let first = try chunker.frames(for: encoded, maxMessageBytes: 1024)
        let second = try chunker.frames(for: encoded, maxMessageBytes: 1024)
        func id(_ frame: Data) throws -> Int {
            guard case .chunk(let c) = try codec.decode(frame).message else { return -1 }
            return c.id
        }
        #expect(try id(first[0]) == 1)
        #expect(try id(second[0]) == 2)
    }

    // MARK: Reassembler errors

    static func chunk(_ id: Int, _ index: Int, _ count: Int, _ text: String = "xx") -> Chunk {
        Chunk(id: id, index: index, count: count, data: Data(text.utf8))
    }

    static func expectMalformed(_ body: () throws -> Void, _ contains: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            try body()
            Issue.record("no error", sourceLocation: sourceLocation)
        } catch {
            guard case .malformed(let why) = error as? WireDecodeError else {
                Issue.record("expected malformed, got \(error)", sourceLocation: sourceLocation)
                return
            }
            #expect(why.contains(contains), "\(why)", sourceLocation: sourceLocation)
        }
    }

    @Test("in-order chunks reassemble; one-chunk messages complete at once")
    func inOrder() throws {
        var r = Reassembler()
        #expect(try r.add(Self.chunk(1, 0, 3, "a")) == nil)
        #expect(try r.add(Self.chunk(1, 1, 3, "b")) == nil)
        #expect(try r.add(Self.chunk(1, 2, 3, "c")) == Data("abc".utf8))
        #expect(try r.add(Self.chunk(2, 0, 1, "z")) == Data("z".utf8))
    }

    @Test("out of order chunks are malformed")
    func outOfOrder() {
        var r = Reassembler()
        Self.expectMalformed({ _ = try r.add(Self.chunk(1, 1, 3)) }, "out of order")
        var skip = Reassembler()
        Self.expectMalformed({ _ = try skip.add(Self.chunk(1, 0, 3)); _ = try skip.add(Self.chunk(1, 2, 3)) }, "out of order")
        var dup = Reassembler()
        Self.expectMalformed({ _ = try dup.add(Self.chunk(1, 0, 3)); _ = try dup.add(Self.chunk(1, 1, 3)); _ = try dup.add(Self.chunk(1, 1, 3)) }, "out of order")
    }

    @Test("interleaved messages are malformed")
    func interleaved() {
        var r = Reassembler()
        Self.expectMalformed({ _ = try r.add(Self.chunk(1, 0, 3)); _ = try r.add(Self.chunk(2, 0, 3)) }, "started before the previous one finished")
        var other = Reassembler()
        Self.expectMalformed({ _ = try other.add(Self.chunk(1, 0, 3)); _ = try other.add(Self.chunk(2, 1, 3)) }, "out of order")
        var count = Reassembler()
        Self.expectMalformed({ _ = try count.add(Self.chunk(1, 0, 3)); _ = try count.add(Self.chunk(1, 1, 4)) }, "out of order")
    }

    @Test("out-of-range chunks are malformed", arguments: [(0, 0), (3, 3), (-1, 3), (5, 2), (0, WireLimits.maxChunksPerMessage + 1), (0, -4), (Int.max, 2), (0, Int.min)])
    func outOfRange(index: Int, count: Int) {
        var r = Reassembler()
        Self.expectMalformed({ _ = try r.add(Chunk(id: 1, index: index, count: count, data: Data())) }, "out of range")
    }

    @Test("over the limit is tooLarge, and the reassembler starts clean afterwards")
    func overLimit() throws {
        var r = Reassembler(maxMessageBytes: 10)
        #expect(try r.add(Self.chunk(1, 0, 3, "12345")) == nil)
        #expect(throws: WireDecodeError.tooLarge(11, limit: 10)) { try r.add(Self.chunk(1, 1, 3, "678901")) }
        #expect(try r.add(Self.chunk(2, 0, 2, "12345")) == nil)
        #expect(try r.add(Self.chunk(2, 1, 2, "67890")) == Data("1234567890".utf8))
    }
}
