import NIOCore

/// Passes a client connection's `channelInactive` on one event-loop turn late, so that a server
/// that answers the upgrade and closes at once (a 101, a close frame, then EOF, read together)
/// is heard: the link sees the close frame, then the inactive event.
///
/// NIO removes the HTTP decoder one turn after the 101 and forwards the bytes behind it only
/// then; an EOF seen before that makes the decoder drop them, and the link's handler, added once
/// the decoder is gone, would see neither the close frame nor the inactive event. Put before the
/// HTTP handlers; the pipeline's teardown is queued behind the delayed event, so it still runs
/// before any handler is removed.
final class UpgradeInactiveDeferral: ChannelInboundHandler {
    typealias InboundIn = NIOAny

    func channelInactive(context: ChannelHandlerContext) {
        context.eventLoop.assumeIsolated().execute { context.fireChannelInactive() }
    }
}
