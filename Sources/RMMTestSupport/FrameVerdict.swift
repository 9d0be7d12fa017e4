/// What a fault mode does with one whole WebSocket frame.
enum FrameVerdict: Sendable, Equatable {
    case forward
    case drop
    /// Forward with the payload replaced by garbage of the same length.
    case corrupt
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
        case .dropDownlinkData, .dropDownlinkText, .dropFramesLargerThan, .corruptDownlinkDataFrame: .frames
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
        }
    }
}
