import Foundation
import NIOCore
import NIOWebSocket
import RMMProtocol

/// The frame reader for one WebSocket connection, used by server and agent alike.
///
/// It only decodes, counts and hands off: messages go to a `LinkInbox` that the owner consumes
/// elsewhere, pings are answered here, and nothing in it ever waits on the owner (design principle 5).
/// Runs on the channel's event loop; the counters are published to a lock box for other threads.
final class WebSocketLinkHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let shared: LinkShared
    private let inbox: LinkInbox
    private let codec = WireCodec()
    private var reassembler = Reassembler()
    private var closeSent = false
    private var finished = false
    private var context: ChannelHandlerContext?
    /// After `deliverInBatches()`: messages decoded in one socket read, handed over together at
    /// `channelReadComplete` so the owner can apply them with one store write.
    private var batching = false
    private var held: [Envelope] = []
    /// Sees every message before it is held or yielded, and may take it (see `LinkSideline`).
    private var sideline: LinkSideline?
    /// False on the server until the handshake authenticated the agent: chunks are refused then.
    private var peerAuthenticated: Bool
    /// Messages decoded while the peer had not authenticated (one is allowed).
    private var messagesBeforeAuthentication = 0
    /// How many messages an unauthenticated peer may send: one (hello or enroll), more in a probe session.
    private var allowedBeforeAuthentication = 1

    init(shared: LinkShared, inbox: LinkInbox, peerAuthenticated: Bool = true) {
        self.shared = shared
        self.inbox = inbox
        self.peerAuthenticated = peerAuthenticated
    }

    /// The handshake authenticated the peer: chunked messages are accepted from now on.
    func markPeerAuthenticated() {
        peerAuthenticated = true
    }

    /// A probe session (`gururmm doctor`) was opened: `count` more messages may come before
    /// authentication, still within the connection's unauthenticated input budget.
    func allowMessagesBeforeAuthentication(_ count: Int) {
        allowedBeforeAuthentication += max(0, count)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let exceeded = event as? UnauthenticatedInputLimit.Exceeded {
            shared.update { $0.decodeErrors += 1 }
            // The peer may still be sending: closing with its bytes unread would reset the
            // connection and could destroy the close frame in flight, so only stop writing first.
            fail(context: context, code: .messageTooBig, reason: exceeded.reason, lingering: true)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if !context.channel.isActive {
            // Added after the channel's inactive event went by (an upgrade that completed one turn
            // after the peer closed): no channelInactive will come, so the link ends here, after
            // whatever the upgrade still hands over in this turn (a close frame keeps its code).
            context.eventLoop.assumeIsolated().execute {
                self.finish(LinkClosure(code: nil, reason: "connection lost", byPeer: true))
            }
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    /// A data frame that arrived by another route (the long-poll downlink, always in the opaque
    /// format): counted and decoded exactly like one read from the socket.
    func injectData(_ bytes: Data) {
        guard let context else { return }
        shared.update {
            $0.dataFramesIn += 1
            $0.dataBytesIn += bytes.count
            $0.lastDataIn = Date().timeIntervalSince1970
        }
        decode(context: context, bytes: bytes, binary: true)
        handOverHeld()
    }

    /// From now on, messages of one read arrive as one `.messages` event (see `LinkEvent`), and
    /// `sideline` may take messages before that.
    func deliverInBatches(sideline: LinkSideline?) {
        batching = true
        self.sideline = sideline
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        handOverHeld()
        context.fireChannelReadComplete()
    }

    private func handOverHeld() {
        guard !held.isEmpty else { return }
        if held.count == 1 {
            inbox.yield(.message(held[0]))
        } else {
            inbox.yield(.messages(held))
        }
        held = []
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        let now = Date().timeIntervalSince1970
        switch frame.opcode {
        case .text, .binary:
            shared.update {
                $0.dataFramesIn += 1
                $0.dataBytesIn += frame.length
                $0.lastDataIn = now
            }
            handleData(context: context, frame: frame)
        case .ping:
            shared.update {
                $0.controlFramesIn += 1
                $0.lastControlIn = now
            }
            if !closeSent {
                var pong = WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)
                pong.maskKey = shared.makeMaskKey()
                shared.update {
                    $0.controlFramesOut += 1
                    $0.lastControlOut = now
                }
                context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
            }
        case .pong:
            var payload = frame.unmaskedData
            let sentAt = payload.readInteger(as: UInt64.self)
            shared.update {
                $0.controlFramesIn += 1
                $0.lastControlIn = now
                if let sentAt {
                    let rtt = Double(DispatchTime.now().uptimeNanoseconds &- sentAt) / 1_000_000
                    if rtt >= 0, rtt < 3_600_000 { $0.recordPong(rttMs: rtt) }
                }
            }
        case .connectionClose:
            var payload = frame.unmaskedData
            let code = payload.readInteger(as: UInt16.self)
            let reason = payload.readString(length: payload.readableBytes) ?? ""
            // Record the peer's code before anything else: the echo's write can complete and close
            // the channel synchronously, and channelInactive must not report "connection lost" first.
            finish(LinkClosure(code: code, reason: reason.isEmpty ? "closed by peer" : reason, byPeer: true))
            if !closeSent {
                // Echo the close as RFC 6455 asks, then drop the connection.
                closeSent = true
                var echo = WebSocketFrame(fin: true, opcode: .connectionClose, data: context.channel.allocator.buffer(capacity: 2))
                echo.data.writeInteger(code ?? CloseCode.normal.rawValue)
                echo.maskKey = shared.makeMaskKey()
                let channel = context.channel
                context.writeAndFlush(wrapOutboundOut(echo)).whenComplete { _ in channel.close(promise: nil) }
                // A peer that stops reading would hold the write, and the connection, open for ever.
                context.eventLoop.scheduleTask(in: Self.closeGrace) { channel.close(promise: nil) }
            }
        default:
            fail(context: context, code: .protocolError, reason: "unsupported frame opcode")
        }
    }

    private func handleData(context: ChannelHandlerContext, frame: WebSocketFrame) {
        var payload = frame.unmaskedData
        let bytes = Data(payload.readBytes(length: payload.readableBytes) ?? [])
        decode(context: context, bytes: bytes, binary: frame.opcode == .binary)
    }

    private func decode(context: ChannelHandlerContext, bytes raw: Data, binary: Bool) {
        guard !closeSent else { return }
        do throws(WireDecodeError) {
            var bytes = raw
            if binary {
                guard let unwrapped = OpaqueFraming.unwrap(raw) else { throw .malformed("binary frame is not in GuruRMM's opaque format") }
                bytes = unwrapped
            }
            var envelope = try codec.decode(bytes)
            if !peerAuthenticated {
                // A peer that has not authenticated says one thing, hello or enroll, and waits:
                // more would let 64 KiB of tiny frames become thousands of held messages.
                messagesBeforeAuthentication += 1
                guard messagesBeforeAuthentication <= allowedBeforeAuthentication else {
                    shared.update { $0.decodeErrors += 1 }
                    fail(context: context, code: .protocolError, reason: allowedBeforeAuthentication == 1
                        ? "only one message (hello or enroll) is read before authentication"
                        : "at most \(allowedBeforeAuthentication) messages are read in a probe session")
                    return
                }
            }
            if case .chunk(let chunk) = envelope.message {
                guard peerAuthenticated else {
                    shared.update { $0.decodeErrors += 1 }
                    fail(context: context, code: .protocolError, reason: "chunked messages are refused before authentication")
                    return
                }
                guard let whole = try reassembler.add(chunk) else { return }
                envelope = try codec.decode(whole)
                if case .chunk = envelope.message { throw .malformed("a chunk may not contain a chunk") }
            }
            if let sideline, sideline(envelope) {
                shared.update {
                    $0.messagesReceived += 1
                    $0.messagesHandled += 1
                }
                return
            }
            let backlog = shared.update { counters -> Int in
                counters.messagesReceived += 1
                return counters.messagesReceived - counters.messagesHandled
            }
            if backlog > shared.maxBacklog {
                fail(context: context, code: .overloaded, reason: "receiver backlog of \(backlog) messages exceeds \(shared.maxBacklog)")
                return
            }
            if batching {
                held.append(envelope)
            } else {
                inbox.yield(.message(envelope))
            }
        } catch {
            switch error {
            case .unknownType(let type):
                // Unknown types are counted and reported, never fatal (a newer peer may send them).
                shared.update {
                    $0.unknownTypes += 1
                    if $0.firstUnknownType == nil { $0.firstUnknownType = type }
                }
            case .tooLarge:
                shared.update { $0.decodeErrors += 1 }
                fail(context: context, code: .messageTooBig, reason: error.description)
            case .unsupportedVersion:
                shared.update { $0.decodeErrors += 1 }
                fail(context: context, code: .protocolError, reason: error.description)
            case .malformed:
                shared.update { $0.decodeErrors += 1 }
                fail(context: context, code: .invalidPayload, reason: error.description)
            }
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        let writable = context.channel.isWritable
        shared.update {
            if !writable && $0.isWritable { $0.unwritableEpisodes += 1 }
            $0.isWritable = writable
        }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(LinkClosure(code: nil, reason: "connection lost", byPeer: true))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let wsError = error as? NIOWebSocketError {
            let code: CloseCode = wsError == .invalidFrameLength ? .messageTooBig : .protocolError
            fail(context: context, code: code, reason: "websocket error: \(wsError)")
        } else {
            finish(LinkClosure(code: nil, reason: "connection error: \(error)", byPeer: true))
            context.close(promise: nil)
        }
    }

    /// Sends a close frame with a reason, then closes the channel. `lingering` closes only the
    /// output at first, and the whole channel a second later (for a peer whose input is dropped).
    func fail(context: ChannelHandlerContext, code: CloseCode, reason: String, lingering: Bool = false) {
        guard !closeSent else { return }
        closeSent = true
        let frame = WebSocketLink.closeFrame(code: code, reason: reason, allocator: context.channel.allocator, maskKey: shared.makeMaskKey())
        finish(LinkClosure(code: code.rawValue, reason: reason, byPeer: false))
        let channel = context.channel
        guard lingering else {
            context.writeAndFlush(wrapOutboundOut(frame)).whenComplete { _ in channel.close(promise: nil) }
            // A peer that stops reading would hold the write, and the connection (and any slot
            // it holds under the connection limits), open for ever.
            context.eventLoop.scheduleTask(in: Self.closeGrace) { channel.close(promise: nil) }
            return
        }
        context.writeAndFlush(wrapOutboundOut(frame)).whenComplete { _ in channel.close(mode: .output, promise: nil) }
        context.eventLoop.scheduleTask(in: .seconds(1)) { channel.close(promise: nil) }
    }

    /// How long a close frame may take to be written before the connection is dropped anyway.
    static let closeGrace: TimeAmount = .seconds(2)

    /// Marks that the owner closed the link itself, so a later echo is not answered again.
    func markLocallyClosed(_ closure: LinkClosure) {
        closeSent = true
        finish(closure)
    }

    private func finish(_ closure: LinkClosure) {
        guard !finished else { return }
        finished = true
        handOverHeld()  // what arrived before the end is still the owner's to handle
        shared.setClosure(closure)
        inbox.yield(.closed(closure))
        inbox.finish()
    }
}
