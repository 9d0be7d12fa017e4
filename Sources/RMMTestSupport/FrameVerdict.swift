import Foundation
import NIOCore

/// What a fault mode does with one whole WebSocket frame.
enum FrameVerdict: Sendable, Equatable {
    case forward
    case drop
    /// Forward with the payload replaced by garbage of the same length.
    case corrupt
    /// Hold the frame until it is whole, then forward what `FrameRewrite` makes of it.
    case rewrite(FrameRewrite)
}

/// What a mode that acts on a frame's content does with a whole frame that carries a command
/// envelope (`"t":"command"`); frames without one pass unchanged.
enum FrameRewrite: Sendable, Equatable {
    /// In an envelope of message type `type`, replace every `marker` in the payload with
    /// `replacement`, which has the same length.
    case tamper(type: String, marker: [UInt8], replacement: [UInt8])
    /// Forward the frame twice.
    case replay
    /// Forward the frame, then a forged copy: command id `c_…` made `f_…`, `seq` set to this.
    case forgeAhead(seq: Int)
    /// Replace one number of the frame's message, at random, with an extreme value.
    case extremeNumber

    /// What the encoder writes for an envelope's type (sorted keys, no spaces).
    private static func typeKey(_ type: String) -> [UInt8] { Array(#""t":"\#(type)""#.utf8) }

    /// The message type this rewrite acts on; nil for any.
    private var messageType: String? {
        switch self {
        case .tamper(let type, _, _): return type
        case .extremeNumber: return nil
        case .replay, .forgeAhead: return "command"
        }
    }

    /// The bytes to forward for a whole frame (`raw`, its header first), and whether it was
    /// changed; a frame that carries no command envelope comes back as it was.
    func apply(to raw: ByteBuffer, header: WebSocketFrameHeader) -> (bytes: ByteBuffer, changed: Bool) {
        var frame = raw
        let headerLength = raw.readableBytes - header.payloadLength
        guard let headerBytes = frame.readBytes(length: headerLength) else { return (raw, false) }
        let payload = Self.masked(frame.readBytes(length: frame.readableBytes) ?? [], with: header.maskKey)
        if let messageType, Self.firstIndex(of: Self.typeKey(messageType), in: payload) == nil { return (raw, false) }
        switch self {
        case .replay:
            var twice = raw
            twice.writeImmutableBuffer(raw)
            return (twice, true)
        case .extremeNumber:
            let fields = NumericExtremes.fields(in: Data(payload))
            guard let field = fields.randomElement(), let token = NumericExtremes.tokens.randomElement() else { return (raw, false) }
            var bent = payload
            bent.replaceSubrange(field.range, with: Array(token.utf8))
            return (ByteBuffer(bytes: Self.serverTextFrame(bent)), true)
        case .forgeAhead(let seq):
            guard let forged = Self.forgedCopy(of: payload, seq: seq) else { return (raw, false) }
            var both = raw
            both.writeBytes(Self.serverTextFrame(forged))
            return (both, true)
        case .tamper(_, let marker, let replacement):
            var altered = payload
            var from = 0
            while let found = Self.firstIndex(of: marker, in: altered, from: from) {
                altered.replaceSubrange(found..<(found + marker.count), with: replacement)
                from = found + marker.count
            }
            guard altered != payload else { return (raw, false) }
            return (ByteBuffer(bytes: headerBytes + Self.masked(altered, with: header.maskKey)), true)
        }
    }

    /// A command envelope's payload with its id's `c_` prefix made `f_` and its `seq` (the last
    /// `"seq":` key: the body, where text could hold one, comes before it) set to `seq`.
    private static func forgedCopy(of payload: [UInt8], seq: Int) -> [UInt8]? {
        let idKey = Array(#""command_id":"c_"#.utf8)
        let seqKey = Array(#""seq":"#.utf8)
        guard let id = firstIndex(of: idKey, in: payload) else { return nil }
        var forged = payload
        forged[id + idKey.count - 2] = UInt8(ascii: "f")
        var last: Int?
        var from = 0
        while let found = firstIndex(of: seqKey, in: forged, from: from) {
            last = found
            from = found + 1
        }
        guard let start = last.map({ $0 + seqKey.count }) else { return nil }
        var end = start
        while end < forged.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(forged[end]) { end += 1 }
        forged.replaceSubrange(start..<end, with: Array(String(seq).utf8))
        return forged
    }

    /// An unmasked, final text frame, as a server writes one.
    private static func serverTextFrame(_ payload: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x81]
        switch payload.count {
        case ..<126: out.append(UInt8(payload.count))
        case ...0xFFFF: out += [126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        default: out += [127] + (0..<8).reversed().map { UInt8(truncatingIfNeeded: UInt64(payload.count) >> (8 * UInt64($0))) }
        }
        return out + payload
    }

    /// `bytes` masked (or unmasked: the same operation) with an RFC 6455 masking key, if any.
    private static func masked(_ bytes: [UInt8], with key: [UInt8]?) -> [UInt8] {
        guard let key else { return bytes }
        return bytes.enumerated().map { $0.element ^ key[$0.offset % 4] }
    }

    private static func firstIndex(of needle: [UInt8], in haystack: [UInt8], from start: Int = 0) -> Int? {
        guard !needle.isEmpty, haystack.count >= needle.count, start <= haystack.count - needle.count else { return nil }
        return (start...(haystack.count - needle.count)).first { haystack[$0..<($0 + needle.count)].elementsEqual(needle) }
    }
}

/// What the filter knows about a frame when its header has been read.
struct FrameFacts: Sendable {
    var header: WebSocketFrameHeader
    /// The opcode of the message the frame belongs to: a continuation frame takes the opcode of
    /// the frame that started its message.
    var messageOpcode: UInt8
    /// For data frames, how many data frames went before it in this direction on this connection.
    var dataFrameIndex: Int?
    /// Whether this connection already had a frame corrupted.
    var corruptedBefore: Bool
}

extension FaultMode {
    /// How the mode treats the byte stream as a whole.
    enum StreamTreatment {
        /// Every byte passes as read, frame boundaries or not.
        case transparent
        /// Every byte read is lost (the path is dead).
        case blackhole
        /// Bytes pass as whole frames, each judged by `verdict`.
        case frames
    }

    var streamTreatment: StreamTreatment {
        switch self {
        case .pass, .stopReading: .transparent
        case .halfOpen: .blackhole
        case .dropDownlinkData, .dropDownlinkText, .dropFramesLargerThan, .corruptDownlinkDataFrame, .tamperMessages, .replayCommands,
             .forgeCommandsAhead, .extremeNumbersDownlink:
            .frames
        }
    }

    /// The fate of a frame travelling `direction` under this mode.
    func verdict(for frame: FrameFacts, direction: FaultDirection) -> FrameVerdict {
        let header = frame.header
        switch self {
        case .pass, .stopReading, .halfOpen:
            return .forward
        case .dropDownlinkData:
            return direction == .downlink && header.isData ? .drop : .forward
        case .dropDownlinkText:
            let isText = header.isData && frame.messageOpcode == WebSocketFrameHeader.Opcode.text
            return direction == .downlink && isText ? .drop : .forward
        case .dropFramesLargerThan(let limit):
            return header.isData && header.payloadLength > limit ? .drop : .forward
        case .corruptDownlinkDataFrame(let after):
            guard direction == .downlink, !frame.corruptedBefore, let index = frame.dataFrameIndex, index >= after else {
                return .forward
            }
            return .corrupt
        case .tamperMessages(let type, let marker, let replacement):
            let (from, to) = (Array(marker.utf8), Array(replacement.utf8))
            guard from.count == to.count, !from.isEmpty, Self.isWholeServerText(frame, direction: direction) else { return .forward }
            return .rewrite(.tamper(type: type, marker: from, replacement: to))
        case .replayCommands:
            return Self.isWholeServerText(frame, direction: direction) ? .rewrite(.replay) : .forward
        case .forgeCommandsAhead(let seq):
            return Self.isWholeServerText(frame, direction: direction) ? .rewrite(.forgeAhead(seq: seq)) : .forward
        case .extremeNumbersDownlink(let oneIn):
            guard Self.isWholeServerText(frame, direction: direction), Int.random(in: 0..<max(1, oneIn)) == 0 else { return .forward }
            return .rewrite(.extremeNumber)
        }
    }

    /// A whole (unfragmented) server-to-client text frame: what a command envelope travels in.
    private static func isWholeServerText(_ frame: FrameFacts, direction: FaultDirection) -> Bool {
        direction == .downlink && frame.header.fin && frame.header.opcode == WebSocketFrameHeader.Opcode.text
    }
}
