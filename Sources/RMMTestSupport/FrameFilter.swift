import NIOCore

/// The `ChunkFilter` of every proxied connection and direction: follows the RFC 6455 framing in
/// every mode (so it never loses its place) and applies the WebSocket-aware modes to whole frames.
struct FrameFilter: ChunkFilter {
    /// What happens to the bytes of the frame being read.
    private enum Disposition {
        /// Held until the frame is whole, then forwarded.
        case hold
        /// Forwarded as they arrive: the frame began while the mode was transparent, or the mode
        /// became transparent mid-frame (its first bytes may already be gone, so it cannot be held).
        case passThrough
        /// Discarded and counted: the mode's verdict.
        case drop
        /// Discarded uncounted: read while the path was dead.
        case lose
    }

    private struct FrameInProgress {
        var header: WebSocketFrameHeader
        var disposition: Disposition
        /// The payload is replaced with garbage on its way through.
        var corrupting: Bool
        /// Applied to the whole frame once it is held complete.
        var rewrite: FrameRewrite?
        var held = ByteBuffer()
    }

    private static let garbage = UInt8(ascii: "#")

    private let statistics: FrameStatistics
    private var parser = WebSocketFrameParser()
    private var frame: FrameInProgress?
    /// The opcode of the last text or binary frame, which continuation frames inherit.
    private var messageOpcode = WebSocketFrameHeader.Opcode.text
    private var dataFramesSeen = 0
    private var corruptedOne = false

    init(statistics: FrameStatistics) {
        self.statistics = statistics
    }

    mutating func process(_ chunk: ByteBuffer, mode: FaultMode, direction: FaultDirection) -> ByteBuffer? {
        let treatment = mode.streamTreatment
        var output = ByteBuffer()
        for event in parser.feed(chunk) {
            switch event {
            case .preamble(let bytes), .opaque(let bytes):
                if treatment != .blackhole { output.writeImmutableBuffer(bytes) }
            case .header(let header, let raw):
                begin(header, raw: raw, mode: mode, direction: direction, into: &output)
            case .payload(let bytes, let offset):
                adapt(to: treatment, into: &output)
                append(bytes, offset: offset, into: &output)
            case .frameEnd:
                adapt(to: treatment, into: &output)
                finish(direction, into: &output)
            }
        }
        return output.readableBytes > 0 ? output : nil
    }

    /// Judges a frame on its header, so a dropped frame is never buffered.
    private mutating func begin(
        _ header: WebSocketFrameHeader, raw: ByteBuffer, mode: FaultMode, direction: FaultDirection,
        into output: inout ByteBuffer
    ) {
        var facts = FrameFacts(header: header, messageOpcode: header.opcode, dataFrameIndex: nil, corruptedBefore: corruptedOne)
        if header.isData {
            if header.opcode == WebSocketFrameHeader.Opcode.continuation {
                facts.messageOpcode = messageOpcode
            } else {
                messageOpcode = header.opcode
            }
            facts.dataFrameIndex = dataFramesSeen
            dataFramesSeen += 1
        }
        var current = FrameInProgress(header: header, disposition: .hold, corrupting: false)
        switch mode.streamTreatment {
        case .transparent:
            current.disposition = .passThrough
        case .blackhole:
            current.disposition = .lose
        case .frames:
            switch mode.verdict(for: facts, direction: direction) {
            case .forward:
                current.disposition = .hold
            case .drop:
                current.disposition = .drop
            case .corrupt:
                current.disposition = .hold
                current.corrupting = true
                corruptedOne = true
            case .rewrite(let rewrite):
                current.disposition = .hold
                current.rewrite = rewrite
            }
        }
        frame = current
        emit(raw, into: &output)
    }

    /// Applies a mode change that happened mid-frame: a transparent mode releases what is held,
    /// a dead path loses the rest. A frame already being dropped or passed keeps its fate, so the
    /// stream stays well-formed.
    private mutating func adapt(to treatment: FaultMode.StreamTreatment, into output: inout ByteBuffer) {
        guard var current = frame else { return }
        switch (treatment, current.disposition) {
        case (.transparent, .hold):
            output.writeImmutableBuffer(current.held)
            current.held = ByteBuffer()
            current.disposition = .passThrough
        case (.blackhole, .hold), (.blackhole, .passThrough):
            current.held = ByteBuffer()
            current.disposition = .lose
        default:
            return
        }
        frame = current
    }

    private mutating func append(_ bytes: ByteBuffer, offset: Int, into output: inout ByteBuffer) {
        guard let current = frame else { return }
        guard current.corrupting else {
            emit(bytes, into: &output)
            return
        }
        // Garbage that reads as "#" once unmasked, so the receiver sees exactly that.
        let mask = current.header.maskKey
        let replaced = (0..<bytes.readableBytes).map { index -> UInt8 in
            guard let mask else { return Self.garbage }
            return Self.garbage ^ mask[(offset + index) % 4]
        }
        emit(ByteBuffer(bytes: replaced), into: &output)
    }

    /// Sends the bytes of the current frame where its disposition says.
    private mutating func emit(_ bytes: ByteBuffer, into output: inout ByteBuffer) {
        switch frame?.disposition {
        case .hold?: frame?.held.writeImmutableBuffer(bytes)
        case .passThrough?: output.writeImmutableBuffer(bytes)
        case .drop?, .lose?, nil: break
        }
    }

    private mutating func finish(_ direction: FaultDirection, into output: inout ByteBuffer) {
        guard let current = frame else { return }
        frame = nil
        switch current.disposition {
        case .hold:
            guard let rewrite = current.rewrite else {
                output.writeImmutableBuffer(current.held)
                statistics.recordForwarded(direction, corrupted: current.corrupting)
                return
            }
            let (bytes, changed) = rewrite.apply(to: current.held, header: current.header)
            output.writeImmutableBuffer(bytes)
            statistics.recordForwarded(direction, corrupted: false)
            if changed { statistics.recordRewritten(rewrite) }
        case .passThrough:
            statistics.recordForwarded(direction, corrupted: current.corrupting)
        case .drop:
            statistics.recordDropped(direction)
        case .lose:
            break
        }
    }
}
