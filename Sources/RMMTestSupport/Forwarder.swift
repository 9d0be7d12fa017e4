import NIOCore

/// Carries one direction of a proxied connection: what its channel reads is filtered and
/// written to the partner channel.
///
/// The two forwarders of a pair live on the same event loop (the upstream is connected on the
/// downstream's loop), so they call each other directly without hopping or locking.
final class Forwarder: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// The direction of the bytes this forwarder's channel reads.
    private let direction: FaultDirection
    private let modeSwitch: FaultModeSwitch
    private var filter: any ChunkFilter
    private var context: ChannelHandlerContext?
    private var partner: Forwarder?
    /// The channel asked to read while reading was not allowed; honoured once it is.
    private var pendingRead = false
    /// The partner closed while the mode swallowed closes; this side closes once the mode
    /// lets closes through again, so a restored path does not leave a dangling socket.
    private var partnerClosedSilently = false

    init(direction: FaultDirection, modeSwitch: FaultModeSwitch, filter: any ChunkFilter) {
        self.direction = direction
        self.modeSwitch = modeSwitch
        self.filter = filter
    }

    /// Links the two forwarders of one connection and starts the flow of bytes.
    static func pair(_ first: Forwarder, _ second: Forwarder) {
        first.partner = second
        second.partner = first
        first.readIfAllowed()
        second.readIfAllowed()
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        self.partner = nil
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let chunk = unwrapInboundIn(data)
        // The filter sees every chunk, even ones that cannot be forwarded, so a stream parser
        // never loses its place.
        guard let output = filter.process(chunk, mode: modeSwitch.current, direction: direction),
              output.readableBytes > 0, let partner else { return }
        partner.writeFromPartner(output)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        partner?.flushFromPartner()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        // Our channel drained: the partner may read again (it paused so we would not buffer
        // without bound).
        if context.channel.isWritable {
            partner?.readIfAllowed()
        }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let partner {
            partner.partnerClosed(propagate: modeSwitch.current.propagatesClose(direction))
        }
        partner = nil
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is FaultModeChanged else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        if partnerClosedSilently, modeSwitch.current.propagatesClose(direction.reversed) {
            closeAfterPendingWrites()
            return
        }
        readIfAllowed()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A reset or any other I/O error ends this socket; channelInactive then decides
        // whether the partner hears about it.
        context.close(promise: nil)
    }

    // MARK: Outbound

    func read(context: ChannelHandlerContext) {
        if mayRead {
            context.read()
        } else {
            pendingRead = true
        }
    }

    // MARK: Partner side

    /// Reading is allowed once paired, while the mode reads this direction, and while the
    /// partner can take more bytes (backpressure instead of unbounded buffering).
    private var mayRead: Bool {
        guard let partner else { return false }
        return modeSwitch.current.reads(direction) && partner.isWritable
    }

    private var isWritable: Bool {
        context?.channel.isWritable ?? false
    }

    private func readIfAllowed() {
        guard pendingRead, mayRead, let context else { return }
        pendingRead = false
        context.read()
    }

    private func writeFromPartner(_ buffer: ByteBuffer) {
        context?.write(wrapOutboundOut(buffer), promise: nil)
    }

    private func flushFromPartner() {
        context?.flush()
    }

    private func partnerClosed(propagate: Bool) {
        partner = nil
        if propagate {
            closeAfterPendingWrites()
        } else {
            partnerClosedSilently = true
        }
    }

    /// Closes only after the bytes already forwarded have left, since a plain close would
    /// discard queued writes that a real TCP path would still deliver before the FIN.
    private func closeAfterPendingWrites() {
        guard let context else { return }
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(capacity: 0))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }
}
