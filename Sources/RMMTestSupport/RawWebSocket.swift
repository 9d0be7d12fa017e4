import NIOCore

/// Hand-made RFC 6455 pieces for tests that play a hostile client over a `RawTCPClient`: the
/// upgrade request, client frames with any header (a length that lies included), and a reading
/// of what the server sent back.
public enum RawWebSocket {
    /// A complete WebSocket upgrade request for `path`; `extraHeaders` are whole `Name: value` lines without their line ends.
    public static func upgradeRequest(path: String = "/agent", host: String = "127.0.0.1", extraHeaders: [String] = []) -> String {
        "GET \(path) HTTP/1.1\r\nHost: \(host)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + extraHeaders.map { $0 + "\r\n" }.joined()
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    }

    /// One masked client frame (FIN set; `opcode` 0x1 is text) carrying `payload`. `declaredLength` puts another length
    /// in the header than the payload has: a truncated frame, or an oversized one sent in part.
    public static func frame(opcode: UInt8 = 0x1, payload: [UInt8], declaredLength: Int? = nil) -> [UInt8] {
        let length = declaredLength ?? payload.count
        var out: [UInt8] = [0x80 | opcode]
        switch length {
        case ..<126:
            out.append(0x80 | UInt8(length))
        case ...0xFFFF:
            out.append(0x80 | 126)
            out.append(contentsOf: [UInt8(length >> 8), UInt8(length & 0xFF)])
        default:
            out.append(0x80 | 127)
            out.append(contentsOf: (0..<8).reversed().map { UInt8(truncatingIfNeeded: UInt64(length) >> (8 * UInt64($0))) })
        }
        let key = (0..<4).map { _ in UInt8.random(in: 0...255) }
        out.append(contentsOf: key)
        out.append(contentsOf: payload.enumerated().map { $0.element ^ key[$0.offset % 4] })
        return out
    }
}

/// What a server sent on a raw connection: its HTTP answer and, after a 101, its whole frames.
public struct RawServerReply: Sendable {
    /// One whole frame, payload unmasked.
    public struct Frame: Sendable, Equatable {
        public var opcode: UInt8
        public var payload: [UInt8]
    }

    /// The response head up to the blank line (or what has arrived of it).
    public private(set) var head = ""
    /// The status code of the response head, once its status line is complete.
    public private(set) var statusCode: Int?
    public private(set) var frames: [Frame] = []

    public init(parsing bytes: [UInt8]) {
        var parser = WebSocketFrameParser()
        var headBytes: [UInt8] = []
        var current: (header: WebSocketFrameHeader, payload: [UInt8])?
        for event in parser.feed(ByteBuffer(bytes: bytes)) {
            switch event {
            case .preamble(let raw):
                headBytes.append(contentsOf: raw.readableBytesView)
            case .header(let header, _):
                current = (header, [])
            case .payload(let raw, let offset):
                let key = current?.header.maskKey
                let piece = raw.readableBytesView.enumerated().map { index, byte in key.map { byte ^ $0[(offset + index) % 4] } ?? byte }
                current?.payload.append(contentsOf: piece)
            case .frameEnd:
                if let whole = current { frames.append(Frame(opcode: whole.header.opcode, payload: whole.payload)) }
                current = nil
            case .opaque:
                break
            }
        }
        head = String(decoding: headBytes, as: UTF8.self)
        if let statusLine = head.split(separator: "\r\n", maxSplits: 1, omittingEmptySubsequences: false).first,
           head.contains("\r\n"), statusLine.hasPrefix("HTTP/") {
            statusCode = statusLine.split(separator: " ").dropFirst().first.flatMap { Int($0) }
        }
    }

    /// The payloads of the text frames, in order.
    public var texts: [[UInt8]] {
        frames.filter { $0.opcode == WebSocketFrameHeader.Opcode.text }.map(\.payload)
    }

    /// The code and reason of the server's close frame, if one arrived.
    public var close: (code: UInt16, reason: String)? {
        guard let frame = frames.first(where: { $0.opcode == WebSocketFrameHeader.Opcode.close }), frame.payload.count >= 2 else { return nil }
        let code = UInt16(frame.payload[0]) << 8 | UInt16(frame.payload[1])
        return (code, String(decoding: frame.payload.dropFirst(2), as: UTF8.self))
    }
}
