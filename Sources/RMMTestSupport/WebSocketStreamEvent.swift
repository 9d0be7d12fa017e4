import NIOCore

/// The fixed part of one RFC 6455 frame, as read off the wire (§5.2).
struct WebSocketFrameHeader: Sendable, Equatable {
    /// Opcodes the proxy cares about by name.
    enum Opcode {
        static let continuation: UInt8 = 0x0
        static let text: UInt8 = 0x1
        static let binary: UInt8 = 0x2
        static let close: UInt8 = 0x8
        static let ping: UInt8 = 0x9
        static let pong: UInt8 = 0xA
    }

    var fin: Bool
    /// The low four bits of the first byte.
    var opcode: UInt8
    /// The 4-byte masking key; client-to-server frames carry one, server-to-client frames do not.
    var maskKey: [UInt8]?
    var payloadLength: Int

    /// Close, ping, pong and the reserved control opcodes (high bit of the opcode set).
    var isControl: Bool {
        opcode & 0x8 != 0
    }

    /// Text, binary, continuation and the reserved data opcodes.
    var isData: Bool {
        !isControl
    }
}

/// One piece of a WebSocket byte stream; the raw bytes of all events of a stream, concatenated,
/// are exactly the bytes that were fed to the parser.
enum WebSocketStreamEvent: Sendable, Equatable {
    /// Bytes of the HTTP upgrade request or response, up to and including the blank line.
    case preamble(ByteBuffer)
    /// A frame's complete header (2 to 14 bytes) and what it says.
    case header(WebSocketFrameHeader, raw: ByteBuffer)
    /// Part of the current frame's payload as on the wire (still masked), starting `offset` bytes
    /// into the payload.
    case payload(ByteBuffer, offset: Int)
    /// The current frame's last payload byte has been seen (follows the header of an empty frame).
    case frameEnd
    /// Bytes that are not a WebSocket frame stream (a refused upgrade, an impossible length):
    /// everything from there on is passed as it is.
    case opaque(ByteBuffer)

    /// The stream bytes this event stands for (none for `frameEnd`).
    var raw: ByteBuffer? {
        switch self {
        case .preamble(let bytes), .header(_, let bytes), .payload(let bytes, _), .opaque(let bytes): bytes
        case .frameEnd: nil
        }
    }
}
