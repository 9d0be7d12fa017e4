import NIOCore

/// Splits one direction of a WebSocket connection into its HTTP preamble and RFC 6455 frames,
/// whatever the read boundaries are.
///
/// It never holds more than a frame header (14 bytes) between reads: preamble and payload bytes
/// are handed on as they arrive, so a frame of any length costs nothing. A stream that does not
/// start like an upgrade ("GET " or "HTTP/") is opaque from its first bytes on.
struct WebSocketFrameParser: Sendable {
    private enum State: Sendable {
        /// Inside the HTTP request or response. `matched` counts how much of "\r\n\r\n" ends
        /// the bytes seen so far; `start` keeps the first bytes, enough to read a status code.
        case preamble(matched: Int, start: [UInt8])
        /// Between frames, or inside a header whose first bytes are in `pending`.
        case header(pending: [UInt8])
        /// Inside the payload of `header`, of which `consumed` bytes have been seen.
        case payload(WebSocketFrameHeader, consumed: Int)
        /// Not a frame stream (see `WebSocketStreamEvent.opaque`).
        case opaque
    }

    private static let terminator: [UInt8] = Array("\r\n\r\n".utf8)
    /// "HTTP/1.1 101": the start of a response that accepted the upgrade.
    private static let statusPrefixLength = 12

    private var state: State = .preamble(matched: 0, start: [])

    /// Whether the preamble is over and frames are being parsed.
    var isInFrames: Bool {
        switch state {
        case .header, .payload: true
        case .preamble, .opaque: false
        }
    }

    /// Consumes `chunk` and returns what it contained, in order.
    mutating func feed(_ chunk: ByteBuffer) -> [WebSocketStreamEvent] {
        var input = chunk
        var events: [WebSocketStreamEvent] = []
        while input.readableBytes > 0 {
            switch state {
            case .preamble(let matched, let start):
                scanPreamble(&input, matched: matched, start: start, into: &events)
            case .header(let pending):
                readHeader(&input, pending: pending, into: &events)
            case .payload(let header, let consumed):
                let piece = input.readPrefix(header.payloadLength - consumed)
                events.append(.payload(piece, offset: consumed))
                finishPayload(header, consumed: consumed + piece.readableBytes, into: &events)
            case .opaque:
                events.append(.opaque(input.readPrefix(input.readableBytes)))
            }
        }
        return events
    }

    private mutating func scanPreamble(
        _ input: inout ByteBuffer, matched: Int, start: [UInt8], into events: inout [WebSocketStreamEvent]
    ) {
        var matched = matched
        var start = start
        var taken = 0
        var ended = false
        var notHTTP = false
        for byte in input.readableBytesView {
            taken += 1
            if start.count < Self.statusPrefixLength {
                start.append(byte)
                if !Self.mayBeUpgrade(start) {
                    notHTTP = true
                    break
                }
            }
            if byte == Self.terminator[matched] {
                matched += 1
            } else {
                matched = byte == Self.terminator[0] ? 1 : 0
            }
            if matched == Self.terminator.count {
                ended = true
                break
            }
        }
        events.append(.preamble(input.readPrefix(taken)))
        if notHTTP {
            state = .opaque
        } else if !ended {
            state = .preamble(matched: matched, start: start)
        } else if Self.isRefusedUpgrade(start) {
            state = .opaque
        } else {
            state = .header(pending: [])
        }
    }

    /// Whether a stream beginning with `start` can still be an upgrade request or response; a
    /// plain TCP stream is seen to be opaque from its first bytes on.
    private static func mayBeUpgrade(_ start: [UInt8]) -> Bool {
        [Array("GET ".utf8), Array("HTTP/".utf8)].contains { prefix in
            start.count <= prefix.count ? prefix.starts(with: start) : start.starts(with: prefix)
        }
    }

    /// A response other than 101 means no frames follow (the body, if any, is HTTP).
    private static func isRefusedUpgrade(_ start: [UInt8]) -> Bool {
        guard start.starts(with: Array("HTTP/".utf8)), start.count == statusPrefixLength else { return false }
        return !start[9...].elementsEqual(Array("101".utf8))
    }

    private mutating func readHeader(
        _ input: inout ByteBuffer, pending: [UInt8], into events: inout [WebSocketStreamEvent]
    ) {
        var pending = pending
        // The first two bytes say how long the header is; read up to that, then up to the rest.
        while input.readableBytes > 0 {
            let needed = Self.headerLength(pending) - pending.count
            guard needed > 0 else { break }
            pending.append(contentsOf: input.readPrefix(needed).readableBytesView)
        }
        guard pending.count == Self.headerLength(pending) else {
            state = .header(pending: pending)
            return
        }
        let raw = ByteBuffer(bytes: pending)
        guard let header = Self.decodeHeader(pending) else {
            // A length no sender could mean (top bit set): stop interpreting the stream.
            events.append(.opaque(raw))
            state = .opaque
            return
        }
        events.append(.header(header, raw: raw))
        finishPayload(header, consumed: 0, into: &events)
    }

    private mutating func finishPayload(
        _ header: WebSocketFrameHeader, consumed: Int, into events: inout [WebSocketStreamEvent]
    ) {
        if consumed == header.payloadLength {
            events.append(.frameEnd)
            state = .header(pending: [])
        } else {
            state = .payload(header, consumed: consumed)
        }
    }

    /// The header length implied by the bytes read so far (2 until the second byte is known).
    private static func headerLength(_ pending: [UInt8]) -> Int {
        guard pending.count >= 2 else { return 2 }
        let lengthBytes: Int
        switch pending[1] & 0x7F {
        case 126: lengthBytes = 2
        case 127: lengthBytes = 8
        default: lengthBytes = 0
        }
        let maskBytes = pending[1] & 0x80 != 0 ? 4 : 0
        return 2 + lengthBytes + maskBytes
    }

    /// Decodes a complete header; nil if its 64-bit length does not fit a signed integer.
    private static func decodeHeader(_ bytes: [UInt8]) -> WebSocketFrameHeader? {
        let shortLength = bytes[1] & 0x7F
        var cursor = 2
        var length: UInt64
        switch shortLength {
        case 126, 127:
            let count = shortLength == 126 ? 2 : 8
            length = 0
            for byte in bytes[cursor..<(cursor + count)] {
                length = length << 8 | UInt64(byte)
            }
            cursor += count
        default:
            length = UInt64(shortLength)
        }
        guard length <= UInt64(Int.max) else { return nil }
        let masked = bytes[1] & 0x80 != 0
        return WebSocketFrameHeader(
            fin: bytes[0] & 0x80 != 0,
            opcode: bytes[0] & 0x0F,
            maskKey: masked ? Array(bytes[cursor..<(cursor + 4)]) : nil,
            payloadLength: Int(length)
        )
    }
}

extension ByteBuffer {
    /// Reads and returns up to `count` bytes (fewer if fewer are readable).
    mutating func readPrefix(_ count: Int) -> ByteBuffer {
        readSlice(length: Swift.min(count, readableBytes)) ?? ByteBuffer()
    }
}
