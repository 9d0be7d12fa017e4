import NIOCore

@testable import RMMTestSupport

/// How a test frame writes its payload length (RFC 6455 §5.2 asks for the shortest, but a
/// parser must read all three forms).
enum LengthForm {
    case shortest
    case sixteenBit
    case sixtyFourBit
}

/// A frame written byte by byte by the test itself, independent of the parser under test.
struct WireFrame: Equatable {
    var fin = true
    var opcode: UInt8
    var payload: [UInt8]
    var maskKey: [UInt8]?
    var lengthForm = LengthForm.shortest

    static func text(_ text: String, mask: [UInt8]? = nil) -> WireFrame {
        WireFrame(opcode: 0x1, payload: Array(text.utf8), maskKey: mask)
    }

    static func binary(count: Int, mask: [UInt8]? = nil) -> WireFrame {
        WireFrame(opcode: 0x2, payload: (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }, maskKey: mask)
    }

    static func ping(_ text: String, mask: [UInt8]? = nil) -> WireFrame {
        WireFrame(opcode: 0x9, payload: Array(text.utf8), maskKey: mask)
    }

    /// The frame as it travels: header, then the payload masked with `maskKey` if there is one.
    var bytes: [UInt8] {
        var out: [UInt8] = [(fin ? 0x80 : 0) | opcode]
        let maskBit: UInt8 = maskKey == nil ? 0 : 0x80
        let length = payload.count
        let form: LengthForm = lengthForm == .shortest ? (length < 126 ? .shortest : length <= 0xFFFF ? .sixteenBit : .sixtyFourBit) : lengthForm
        switch form {
        case .shortest:
            out.append(maskBit | UInt8(length))
        case .sixteenBit:
            out.append(maskBit | 126)
            out.append(contentsOf: [UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)])
        case .sixtyFourBit:
            out.append(maskBit | 127)
            out.append(contentsOf: (0..<8).reversed().map { UInt8(truncatingIfNeeded: UInt64(length) >> (8 * UInt64($0))) })
        }
        guard let maskKey else { return out + payload }
        out.append(contentsOf: maskKey)
        out.append(contentsOf: payload.enumerated().map { $0.element ^ maskKey[$0.offset % 4] })
        return out
    }

    /// Two frames are the same frame whatever length form they were written with.
    static func == (lhs: WireFrame, rhs: WireFrame) -> Bool {
        lhs.fin == rhs.fin && lhs.opcode == rhs.opcode && lhs.payload == rhs.payload && lhs.maskKey == rhs.maskKey
    }

    /// The header the parser should report for this frame.
    var expectedHeader: WebSocketFrameHeader {
        WebSocketFrameHeader(fin: fin, opcode: opcode, maskKey: maskKey, payloadLength: payload.count)
    }
}

let upgradeRequest = Array(
    "GET /agent HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n".utf8
)
let upgradeResponse = Array(
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n".utf8
)

/// Splits `bytes` at `cuts` (ascending positions) into consecutive chunks.
func split(_ bytes: [UInt8], at cuts: [Int]) -> [ByteBuffer] {
    var chunks: [ByteBuffer] = []
    var start = 0
    for cut in cuts + [bytes.count] where cut >= start {
        chunks.append(ByteBuffer(bytes: bytes[start..<cut]))
        start = cut
    }
    return chunks
}
