import NIOCore
import Testing

@testable import RMMTestSupport

/// What the parser reported for a whole stream, reassembled.
private struct ParsedStream {
    /// Every event's raw bytes concatenated: must be the input, byte for byte.
    var raw: [UInt8] = []
    var preamble: [UInt8] = []
    var opaque: [UInt8] = []
    var frames: [WireFrame] = []
    /// Payload offsets or event order the parser got wrong.
    var problems: [String] = []

    private var current: (header: WebSocketFrameHeader, payload: [UInt8])?

    static func parse(_ chunks: [ByteBuffer]) -> ParsedStream {
        var parser = WebSocketFrameParser()
        var stream = ParsedStream()
        for chunk in chunks {
            for event in parser.feed(chunk) { stream.add(event) }
        }
        if stream.current != nil { stream.problems.append("stream ended inside a frame") }
        return stream
    }

    private mutating func add(_ event: WebSocketStreamEvent) {
        if let bytes = event.raw { raw.append(contentsOf: bytes.readableBytesView) }
        switch event {
        case .preamble(let bytes):
            if !frames.isEmpty || current != nil { problems.append("preamble after frames") }
            preamble.append(contentsOf: bytes.readableBytesView)
        case .opaque(let bytes):
            opaque.append(contentsOf: bytes.readableBytesView)
        case .header(let header, _):
            if current != nil { problems.append("header inside a frame") }
            current = (header, [])
        case .payload(let bytes, let offset):
            guard var frame = current else {
                problems.append("payload outside a frame")
                return
            }
            if offset != frame.payload.count { problems.append("offset \(offset), expected \(frame.payload.count)") }
            for (index, byte) in bytes.readableBytesView.enumerated() {
                let mask = frame.header.maskKey.map { $0[(offset + index) % 4] } ?? 0
                frame.payload.append(byte ^ mask)
            }
            current = frame
        case .frameEnd:
            guard let frame = current else {
                problems.append("frame end outside a frame")
                return
            }
            if frame.payload.count != frame.header.payloadLength { problems.append("frame ended early") }
            frames.append(
                WireFrame(fin: frame.header.fin, opcode: frame.header.opcode, payload: frame.payload, maskKey: frame.header.maskKey)
            )
            current = nil
        }
    }
}

/// Frames covering every length form, masked or not, with control frames and fragments between.
private func sampleFrames(masked: Bool) -> [WireFrame] {
    let mask: [UInt8]? = masked ? [0x37, 0xFA, 0x21, 0x3D] : nil
    return [
        .text(#"{"v":2,"t":"heartbeat"}"#, mask: mask),
        WireFrame(opcode: 0x9, payload: [], maskKey: mask),  // empty ping
        .binary(count: 126, mask: mask),  // smallest 16-bit length
        .binary(count: 300, mask: mask),
        WireFrame(fin: false, opcode: 0x1, payload: Array("frag".utf8), maskKey: mask),
        WireFrame(opcode: 0xA, payload: Array("pong".utf8), maskKey: mask),
        WireFrame(opcode: 0x0, payload: Array("ment".utf8), maskKey: mask),
        // 64-bit length form on a small payload, so every split stays cheap.
        WireFrame(opcode: 0x2, payload: [1, 2, 3, 4, 5], maskKey: mask, lengthForm: .sixtyFourBit),
        WireFrame(opcode: 0x1, payload: Array("x".utf8), maskKey: mask, lengthForm: .sixteenBit),
        WireFrame(opcode: 0x8, payload: [0x03, 0xE8], maskKey: mask),
    ]
}

@Suite("WebSocketFrameParser")
struct WebSocketFrameParserTests {
    @Test("parses a stream split at every position into the same frames", arguments: [true, false])
    func everySplit(masked: Bool) async {
        let frames = sampleFrames(masked: masked)
        let preamble = masked ? upgradeRequest : upgradeResponse
        let stream = preamble + frames.flatMap(\.bytes)
        for cut in 0...stream.count {
            await Task.yield()
            let parsed = ParsedStream.parse(split(stream, at: [cut]))
            #expect(parsed.raw == stream, "cut at \(cut)")
            #expect(parsed.preamble == preamble, "cut at \(cut)")
            #expect(parsed.frames == frames, "cut at \(cut)")
            #expect(parsed.opaque.isEmpty && parsed.problems.isEmpty, "cut at \(cut): \(parsed.problems)")
        }
    }

    @Test("parses a stream split at every pair of positions", arguments: [true, false])
    func everyPairOfSplits(masked: Bool) async {
        // Shorter sample (pairs grow quadratically) that still crosses every header form.
        let mask: [UInt8]? = masked ? [9, 8, 7, 6] : nil
        let frames: [WireFrame] = [
            .text("hi", mask: mask),
            WireFrame(opcode: 0x2, payload: [7, 7, 7], maskKey: mask, lengthForm: .sixtyFourBit),
            WireFrame(opcode: 0x9, payload: [], maskKey: mask),
            WireFrame(opcode: 0x1, payload: Array("abc".utf8), maskKey: mask, lengthForm: .sixteenBit),
        ]
        let preamble = Array("GET / HTTP/1.1\r\n\r\n".utf8)
        let stream = preamble + frames.flatMap(\.bytes)
        for first in 0...stream.count {
            // Quadratic work in a debug build: let other tests' timers run in between.
            await Task.yield()
            for second in first...stream.count {
                let parsed = ParsedStream.parse(split(stream, at: [first, second]))
                #expect(parsed.raw == stream && parsed.frames == frames && parsed.problems.isEmpty, "cuts at \(first), \(second)")
            }
        }
    }

    @Test("parses a stream fed one byte at a time")
    func oneByteAtATime() {
        let frames = sampleFrames(masked: true)
        let stream = upgradeRequest + frames.flatMap(\.bytes)
        let parsed = ParsedStream.parse(split(stream, at: Array(1..<stream.count)))
        #expect(parsed.raw == stream)
        #expect(parsed.frames == frames)
        #expect(parsed.problems.isEmpty)
    }

    @Test("parses several frames, and the preamble, in one chunk")
    func severalFramesInOneChunk() {
        let frames = sampleFrames(masked: false)
        let stream = upgradeResponse + frames.flatMap(\.bytes)
        var parser = WebSocketFrameParser()
        let events = parser.feed(ByteBuffer(bytes: stream))
        let headers = events.filter { if case .header = $0 { true } else { false } }
        #expect(headers.count == frames.count)
        #expect(parser.isInFrames)
    }

    @Test("parses a real 64-bit length (70 000 bytes) split anywhere in its header and around its payload", arguments: [true, false])
    func realSixtyFourBitLength(masked: Bool) async {
        let big = WireFrame.binary(count: 70_000, mask: masked ? [1, 2, 3, 4] : nil)
        let frames = [WireFrame.text("before"), big, WireFrame.text("after")]
        let stream = upgradeResponse + frames.flatMap(\.bytes)
        let bigStart = upgradeResponse.count + frames[0].bytes.count
        let bigEnd = bigStart + big.bytes.count
        let cuts = Array((bigStart - 4)...(bigStart + 20)) + Array(stride(from: bigStart + 20, to: bigEnd - 20, by: 9_973))
            + Array((bigEnd - 20)...(bigEnd + 4))
        for cut in cuts {
            // Seconds of parsing in a debug build: let other tests' timers run between cuts.
            await Task.yield()
            let parsed = ParsedStream.parse(split(stream, at: [cut]))
            #expect(parsed.raw == stream && parsed.frames == frames && parsed.problems.isEmpty, "cut at \(cut)")
        }
        // And in three pieces that each hold part of the payload.
        let parsed = ParsedStream.parse(split(stream, at: [bigStart + 5, bigStart + 40_000]))
        #expect(parsed.frames == frames)
    }

    @Test("finds the end of the preamble across tricky splits")
    func preambleTerminator() {
        // "\r\n\r" then "\r\n\r\n": a naive matcher that restarts at zero misses the real end.
        let preamble = Array("GET / HTTP/1.1\r\nX: y\r\n\r\r\n\r\n".utf8)
        let stream = preamble + WireFrame.text("ok", mask: [1, 1, 1, 1]).bytes
        for cut in 0...stream.count {
            let parsed = ParsedStream.parse(split(stream, at: [cut]))
            #expect(parsed.preamble == preamble && parsed.frames.count == 1, "cut at \(cut)")
        }
    }

    @Test("a refused upgrade turns the rest of the stream opaque")
    func refusedUpgradeIsOpaque() {
        let response = Array("HTTP/1.1 400 Bad Request\r\nContent-Length: 2\r\n\r\n".utf8)
        let body = Array("no".utf8) + WireFrame.text("not a frame").bytes
        let parsed = ParsedStream.parse(split(response + body, at: [20]))
        #expect(parsed.preamble == response)
        #expect(parsed.opaque == body)
        #expect(parsed.frames.isEmpty)
    }

    @Test("a stream that does not start like an upgrade is opaque, whatever it contains")
    func plainStream() {
        let bytes = Array("hello\r\n\r\n".utf8) + WireFrame.text("not a frame").bytes
        for cut in 0...bytes.count {
            let parsed = ParsedStream.parse(split(bytes, at: [cut]))
            #expect(parsed.raw == bytes && parsed.frames.isEmpty, "cut at \(cut)")
        }
        var parser = WebSocketFrameParser()
        _ = parser.feed(ByteBuffer(bytes: Array("GE".utf8)))
        #expect(!parser.isInFrames)
        _ = parser.feed(ByteBuffer(bytes: Array("T / HTTP/1.1\r\n\r\n".utf8)))
        #expect(parser.isInFrames)
    }

    @Test("a length with the top bit set turns the stream opaque")
    func impossibleLength() {
        let header: [UInt8] = [0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1]
        let trailing: [UInt8] = [1, 2, 3]
        let parsed = ParsedStream.parse(split(upgradeResponse + header + trailing, at: [upgradeResponse.count + 3]))
        #expect(parsed.opaque == header + trailing)
        #expect(parsed.frames.isEmpty)
    }
}
