import Logging
import NIOCore
import RMMProtocol

/// The client address a trusted proxy's PROXY header named, sent down the pipeline as a user
/// event before `channelActive`, so the handlers behind count and log the client, not the proxy.
struct ProxiedClient: Sendable {
    let address: SocketAddress
}

/// The first handler on an agent-port connection when the server runs with `--trusted-proxy`
/// (without it the handler is not in the pipeline at all). It reads the PROXY header (v1 or v2,
/// `ProxyHeader`) before TLS, then removes itself.
///
/// From a trusted proxy the header is optional (a health check may come without one):
/// `channelActive` is held back until the first bytes show whether there is one, so that the
/// connection guard admits the connection under the client's address. From any other peer the
/// connection goes on at once and a header is refused: anyone could write one. A broken,
/// oversized or unaccepted header, or none of the first bytes within `timeout`, closes the
/// connection with a log line (`timeout` is for a trusted peer; the connection guard's deadline
/// covers the others). It buffers at most `ProxyHeader.maxBytes` plus one read.
final class ProxyHeaderHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private enum State {
        case reading
        case passing
        case refused
    }

    private let trusted: TrustedProxies
    private let timeout: TimeAmount
    private let logger: Logger
    private var state = State.reading
    private var buffer: ByteBuffer?
    private var peerTrusted = false
    private var deadline: Scheduled<Void>?

    init(trusted: TrustedProxies, timeout: TimeAmount, logger: Logger) {
        self.trusted = trusted
        self.timeout = timeout
        self.logger = logger
    }

    func channelActive(context: ChannelHandlerContext) {
        peerTrusted = context.channel.remoteAddress.flatMap(\.ipBytes).map(trusted.trusts) ?? false
        // An untrusted peer is counted under its own address from the start, and the connection
        // guard's request deadline covers it.
        guard peerTrusted else {
            context.fireChannelActive()
            return
        }
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            self.deadline = nil
            self.refuse(context: context, why: "no bytes within \(self.timeout.nanoseconds / 1_000_000_000) s")
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch state {
        case .passing: context.fireChannelRead(data); return
        case .refused: return
        case .reading: break
        }
        var incoming = unwrapInboundIn(data)
        var held = buffer ?? context.channel.allocator.buffer(capacity: incoming.readableBytes)
        held.writeBuffer(&incoming)
        buffer = held
        switch ProxyHeader.decode(held.readableBytesView.prefix(ProxyHeader.maxBytes)) {
        case .needMore:
            return
        case .absent:
            pass(context: context, client: nil)
        case .header(let source, _, let length):
            guard peerTrusted else {
                refuse(context: context, why: "PROXY header from a peer that is not a --trusted-proxy address")
                return
            }
            buffer?.moveReaderIndex(forwardBy: length)
            pass(context: context, client: source.flatMap(\.socketAddress))
        case .invalid(let why):
            refuse(context: context, why: why)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        // A trusted peer's connection never became active downstream if it ended before its header.
        if state == .passing || !peerTrusted { context.fireChannelInactive() }
        state = .refused
    }

    private func pass(context: ChannelHandlerContext, client: SocketAddress?) {
        state = .passing
        deadline?.cancel()
        deadline = nil
        if let client { context.fireUserInboundEventTriggered(ProxiedClient(address: client)) }
        if peerTrusted { context.fireChannelActive() }
        if let rest = buffer, rest.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(rest)) }
        buffer = nil
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    private func refuse(context: ChannelHandlerContext, why: String) {
        guard state == .reading else { return }
        state = .refused
        buffer = nil
        deadline?.cancel()
        deadline = nil
        let peer = context.channel.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "unknown"
        logger.notice("closed agent-port connection from \(peer): \(LogSafe.text(why, limit: 200))")
        context.close(promise: nil)
    }
}

extension SocketAddress {
    /// The IP address's bytes (4 or 16); nil for a unix socket.
    var ipBytes: [UInt8]? {
        switch self {
        case .v4(let v4): return withUnsafeBytes(of: v4.address.sin_addr) { Array($0) }
        case .v6(let v6): return withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
        case .unixDomainSocket: return nil
        }
    }

    /// "address:port" as the server's logs and audit entries write a peer; the address alone when there is no port (a proxy's `X-Forwarded-For` client).
    var peerDescription: String {
        let ip = ipAddress ?? "?"
        guard let port, port != 0 else { return ip }
        return "\(ip):\(port)"
    }
}

extension ProxyHeader.Address {
    /// The address as NIO holds one; nil only for a byte count that is neither 4 nor 16.
    var socketAddress: SocketAddress? {
        try? SocketAddress(packedIPAddress: ByteBuffer(bytes: bytes), port: port)
    }
}
