import NIOCore

/// Bounds what a peer that has not authenticated yet can make this side hold.
///
/// Sits in front of the WebSocket frame decoder, which would otherwise buffer a frame of up to
/// `WireLimits.maxFrameBytes` before looking at it, and counts every byte read (frames, pings and
/// the first message together). Past `budget` it passes nothing more on and tells the link handler,
/// which closes with 1009 and a reason. `WebSocketLink.peerAuthenticated()` removes it.
final class UnauthenticatedInputLimit: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// The event the link handler closes on (see `WebSocketLinkHandler.userInboundEventTriggered`).
    struct Exceeded: Sendable, Equatable {
        var budget: Int

        /// The close reason the peer sees (fits the 123 bytes a close frame carries).
        var reason: String { "more than \(budget) bytes before authentication" }
    }

    let budget: Int
    private var read = 0
    private var exceeded = false

    init(budget: Int) {
        self.budget = budget
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !exceeded else { return }
        read += unwrapInboundIn(data).readableBytes
        guard read <= budget else {
            exceeded = true
            context.fireUserInboundEventTriggered(Exceeded(budget: budget))
            return
        }
        context.fireChannelRead(data)
    }
}
