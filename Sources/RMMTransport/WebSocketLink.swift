import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOWebSocket
import RMMProtocol

/// One WebSocket connection speaking the GuruRMM envelope protocol; the same type serves both ends.
///
/// Sending never waits: frames are handed to the channel, which buffers them. Received messages
/// arrive on `events` (or, after `deliver(to:)`, are pushed to a consumer); the owner calls
/// `markHandled()` after handling each, which is how both ends can tell "received" from "handled"
/// (a stuck consumer shows as a growing gap).
public final class WebSocketLink: Sendable {
    public var events: LinkEvents { LinkEvents(inbox: inbox) }
    private let inbox: LinkInbox
    /// Description of the remote end, for logs ("127.0.0.1:53122"): the peer's address, or the
    /// client's a trusted proxy named (given to `install`).
    public let remoteDescription: String
    let channel: any Channel
    let shared: LinkShared
    private let handler: NIOLoopBound<WebSocketLinkHandler>
    private let chunker = NIOLockedValueBox(Chunker())
    private let messageCap = NIOLockedValueBox(WireLimits.defaultChunkBytes)
    private let codec = WireCodec()
    /// How this side sends data frames (the server follows the agent's requested downlink mode).
    public let sendMode: DownlinkMode
    /// In `.poll` mode, where data frames wait for the agent's HTTP poll.
    public let pollQueue: DownlinkQueue?
    /// The id the server gave this connection (101 header `X-GuruRMM-Connection`), if any.
    public let connectionId: String?

    /// Adds the frame aggregator and the link handler to a channel that just finished its WebSocket
    /// upgrade. Must run on the channel's event loop.
    ///
    /// With `unauthenticatedLimit` (the server's side) the peer has not authenticated yet: until
    /// `peerAuthenticated()`, at most that many bytes are read before the link closes with 1009,
    /// and `chunk` frames are refused (1002), so nothing is reassembled for an unknown peer.
    public static func install(
        on channel: any Channel, isClient: Bool, maxBacklog: Int = 10_000,
        sendMode: DownlinkMode = .text, pollQueue: DownlinkQueue? = nil, connectionId: String? = nil,
        unauthenticatedLimit: Int? = nil, remoteDescription: String? = nil
    ) throws -> WebSocketLink {
        let shared = LinkShared(isClient: isClient, maxBacklog: maxBacklog)
        let inbox = LinkInbox()
        let handler = WebSocketLinkHandler(shared: shared, inbox: inbox, peerAuthenticated: unauthenticatedLimit == nil)
        let sync = channel.pipeline.syncOperations
        if let unauthenticatedLimit {
            let decoder = try sync.handler(type: ByteToMessageHandler<WebSocketFrameDecoder>.self)
            try sync.addHandler(UnauthenticatedInputLimit(budget: unauthenticatedLimit), position: .before(decoder))
        }
        try sync.addHandler(
            NIOWebSocketFrameAggregator(
                minNonFinalFragmentSize: 1,
                maxAccumulatedFrameCount: 1024,
                maxAccumulatedFrameSize: WireLimits.maxFrameBytes
            )
        )
        try sync.addHandler(handler)
        let link = WebSocketLink(
            channel: channel, shared: shared, handler: NIOLoopBound(handler, eventLoop: channel.eventLoop), inbox: inbox,
            sendMode: sendMode == .poll && pollQueue == nil ? .text : sendMode, pollQueue: pollQueue, connectionId: connectionId,
            remoteDescription: remoteDescription
        )
        if let pollQueue {
            channel.closeFuture.whenComplete { _ in pollQueue.close() }
        }
        return link
    }

    private init(
        channel: any Channel, shared: LinkShared, handler: NIOLoopBound<WebSocketLinkHandler>, inbox: LinkInbox,
        sendMode: DownlinkMode, pollQueue: DownlinkQueue?, connectionId: String?, remoteDescription: String?
    ) {
        self.channel = channel
        self.shared = shared
        self.handler = handler
        self.inbox = inbox
        self.sendMode = sendMode
        self.pollQueue = pollQueue
        self.connectionId = connectionId
        self.remoteDescription = remoteDescription ?? channel.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "unknown"
    }

    /// Largest message sent as one frame; longer ones are split into `chunk` frames.
    public func setMaxMessageBytes(_ bytes: Int) {
        messageCap.withLockedValue { $0 = PacketLimits.clampMessageCap(bytes) }
    }

    /// Encodes and writes one envelope (as several chunk frames if it is long). Returns the bytes
    /// handed to the socket — never a sign of delivery — or nil if the link is closed or the
    /// envelope could not be encoded.
    @discardableResult
    public func send(_ envelope: Envelope) -> Int? {
        send([envelope])
    }

    /// Encodes and writes envelopes in order, in one event-loop turn with one flush: a burst (an
    /// ack, a start and a result) leaves in one syscall and usually arrives in one read. Returns
    /// the bytes handed to the socket, or nil if the link is closed or one envelope could not be
    /// encoded (then none is written).
    @discardableResult
    public func send(_ envelopes: [Envelope]) -> Int? {
        guard shared.closed == nil else { return nil }
        var frames: [Data] = []
        do {
            let cap = messageCap.withLockedValue { $0 }
            for envelope in envelopes {
                let encoded = try codec.encode(envelope)
                frames += try chunker.withLockedValue { try $0.frames(for: encoded, maxMessageBytes: cap) }
            }
        } catch {
            return nil
        }
        writeData(frames)
        return frames.reduce(0) { $0 + $1.count }
    }

    /// Writes data frames in this link's send mode, all in one event-loop turn so that the chunks
    /// of one message never interleave with another message's.
    private func writeData(_ frames: [Data]) {
        let shared = self.shared
        let channel = self.channel
        let mode = sendMode
        let pollQueue = self.pollQueue
        channel.eventLoop.execute {
            let now = Date().timeIntervalSince1970
            var bytes = 0
            for data in frames {
                bytes += data.count
                switch mode {
                case .poll:
                    // Masked like binary frames: an HTTP body inspector sees no command text either.
                    pollQueue?.append(OpaqueFraming.wrap(data))
                case .text, .binary:
                    let payload = mode == .binary ? OpaqueFraming.wrap(data) : data
                    var buffer = channel.allocator.buffer(capacity: payload.count)
                    buffer.writeBytes(payload)
                    var frame = WebSocketFrame(fin: true, opcode: mode == .binary ? .binary : .text, data: buffer)
                    frame.maskKey = shared.makeMaskKey()
                    channel.write(frame, promise: nil)
                }
            }
            if mode != .poll { channel.flush() }
            shared.update {
                $0.dataFramesOut += frames.count
                $0.dataBytesOut += bytes
                $0.lastDataOut = now
            }
        }
    }

    /// Feeds a data frame that arrived by the long-poll downlink into the normal receive path.
    public func injectInbound(_ data: Data) {
        let handler = self.handler
        channel.eventLoop.execute { handler.value.injectData(data) }
    }

    /// TCP_INFO of the socket (Linux), and bytes waiting in the channel's write buffer.
    public func transportState() async -> (tcp: TCPInfoSnapshot?, queuedBytes: Int?) {
        let queued = try? await channel.getOption(.bufferedWritableBytes).get()
        #if os(Linux)
        if let provider = channel as? any SocketOptionProvider, let info = try? await provider.getTCPInfo().get() {
            let snapshot = TCPInfoSnapshot(
                rttMs: Double(info.tcpi_rtt) / 1000, rttVarianceMs: Double(info.tcpi_rttvar) / 1000,
                retransmits: Int(info.tcpi_retransmits), totalRetransmits: Int(info.tcpi_total_retrans),
                unackedSegments: Int(info.tcpi_unacked), lostSegments: Int(info.tcpi_lost),
                pathMtu: Int(info.tcpi_pmtu), sendMss: Int(info.tcpi_snd_mss)
            )
            return (snapshot, queued)
        }
        #endif
        return (nil, queued)
    }

    /// Writes a probe-sized data frame as is (already encoded), in this link's send mode.
    public func sendEncoded(_ data: Data) {
        guard shared.closed == nil else { return }
        writeData([data])
    }

    /// Writes one raw data frame as is, bypassing the codec: for probes and for tests of hostile input.
    public func sendFrame(_ data: Data, binary: Bool = false) {
        let shared = self.shared
        let channel = self.channel
        channel.eventLoop.execute {
            var buffer = channel.allocator.buffer(capacity: data.count)
            buffer.writeBytes(data)
            var frame = WebSocketFrame(fin: true, opcode: binary ? .binary : .text, data: buffer)
            frame.maskKey = shared.makeMaskKey()
            shared.update {
                $0.dataFramesOut += 1
                $0.dataBytesOut += data.count
                $0.lastDataOut = Date().timeIntervalSince1970
            }
            channel.writeAndFlush(frame, promise: nil)
        }
    }

    /// Sends a WebSocket ping whose payload is a timestamp, so the pong gives a round-trip time.
    ///
    /// With `flush: false` the ping waits in the channel for the next flush — for a caller that
    /// writes a data frame right after (the server's heartbeat), so both go out in one syscall.
    /// Only for the text and binary modes: in poll mode data frames never flush the socket.
    public func ping(flush: Bool = true) {
        guard shared.closed == nil else { return }
        let shared = self.shared
        let channel = self.channel
        channel.eventLoop.execute {
            var buffer = channel.allocator.buffer(capacity: 8)
            buffer.writeInteger(DispatchTime.now().uptimeNanoseconds)
            var frame = WebSocketFrame(fin: true, opcode: .ping, data: buffer)
            frame.maskKey = shared.makeMaskKey()
            shared.update {
                $0.pingsSent += 1
                $0.controlFramesOut += 1
                $0.lastControlOut = Date().timeIntervalSince1970
            }
            if flush {
                channel.writeAndFlush(frame, promise: nil)
            } else {
                channel.write(frame, promise: nil)
            }
        }
    }

    /// Sends a close frame with a code and reason, then closes the connection.
    public func close(_ code: CloseCode, reason: String) {
        let shared = self.shared
        let channel = self.channel
        let handler = self.handler
        channel.eventLoop.execute {
            guard shared.closed == nil else { return }
            handler.value.markLocallyClosed(LinkClosure(code: code.rawValue, reason: reason, byPeer: false))
            let frame = Self.closeFrame(code: code, reason: reason, allocator: channel.allocator, maskKey: shared.makeMaskKey())
            channel.writeAndFlush(frame).whenComplete { _ in channel.close(promise: nil) }
            // A peer that never reads must not keep the socket: close anyway after a grace period.
            channel.eventLoop.scheduleTask(in: .seconds(2)) { channel.close(promise: nil) }
        }
    }

    /// The handshake authenticated the peer: the normal limits apply from the next read on (frames
    /// up to `WireLimits.maxFrameBytes`, chunked messages). Queued on the event loop ahead of any
    /// later send, so a welcome sent after this call is never answered under the stricter limits.
    public func peerAuthenticated() {
        let handler = self.handler
        let channel = self.channel
        channel.eventLoop.execute {
            handler.value.markPeerAuthenticated()
            if let limit = try? channel.pipeline.syncOperations.handler(type: UnauthenticatedInputLimit.self) {
                channel.pipeline.syncOperations.removeHandler(limit, promise: nil)
            }
        }
    }

    /// A probe session was opened on this unauthenticated connection: `count` more messages may come
    /// (its input budget still holds). Queued on the event loop ahead of any later send, so the
    /// peer, which waits for the answer, never meets the old allowance.
    public func allowProbeMessages(_ count: Int) {
        let handler = self.handler
        channel.eventLoop.execute {
            handler.value.allowMessagesBeforeAuthentication(count)
        }
    }

    /// Drops the TCP connection without a close frame (what a crash looks like to the peer).
    public func abort() {
        channel.close(promise: nil)
    }

    /// Hands every event not yet taken from `events`, and every later one, to `consumer`: one at a
    /// time, in order, each awaited before the next, from a task that exists only while events
    /// wait. For owners of many mostly idle links (the server): an idle link then holds no task.
    /// Call at most once, and stop using `events` before.
    public func deliver(to consumer: @escaping @Sendable (LinkEvent) async -> Void) {
        inbox.deliver(to: consumer)
    }

    /// Call once per handled message (after its effects are done), or once per batch with its size.
    public func markHandled(_ count: Int = 1) {
        shared.update { $0.messagesHandled += count }
    }

    /// Asks for the messages of one socket read together (`LinkEvent.messages`), so a reader that
    /// stores what it receives can do so in one write. Messages already queued stay single.
    /// A `sideline`, if given, sees each later message first and may take it (see `LinkSideline`);
    /// a message it takes counts as received and handled at once.
    public func deliverInBatches(sideline: LinkSideline? = nil) {
        let handler = self.handler
        channel.eventLoop.execute { handler.value.deliverInBatches(sideline: sideline) }
    }

    public var counters: LinkCounters { shared.snapshot }
    public var closure: LinkClosure? { shared.closed }
    public var isOpen: Bool { shared.closed == nil && channel.isActive }

    /// A close frame: 2-byte code then a UTF-8 reason cut to fit the 125-byte control-frame limit.
    static func closeFrame(code: CloseCode, reason: String, allocator: ByteBufferAllocator, maskKey: WebSocketMaskingKey?) -> WebSocketFrame {
        var buffer = allocator.buffer(capacity: 125)
        buffer.writeInteger(code.rawValue)
        var cut = Substring(reason)
        while cut.utf8.count > 123 { cut = cut.dropLast() }
        buffer.writeString(String(cut))
        var frame = WebSocketFrame(fin: true, opcode: .connectionClose, data: buffer)
        frame.maskKey = maskKey
        return frame
    }
}
