import Foundation
import Logging
import NIOCore
import NIOHTTP1
import RMMProtocol

/// The first handler on every agent-port connection.
///
/// At accept it takes the connection's unauthenticated slot from the `AddressLimiter`, or answers
/// `429 Too Many Requests` (its address holds too many) or `503 Service Unavailable` (all addresses
/// together do) and closes without parsing a byte. Until the HTTP request is complete (the
/// WebSocket upgrade, or the end of a plain request) it runs the request deadline: a client that
/// has not finished its request by then gets `408 Request Timeout` and is closed, so a slow or
/// silent client cannot keep its slot. A request longer than `WireLimits.maxUpgradeRequestBytes`
/// gets `431 Request Header Fields Too Large` and is closed, so the HTTP parser never holds more. The slot is given back when the agent authenticates
/// (`AgentHandshake`) or the connection closes, whichever comes first. A WebSocket connection
/// drops the guard from its pipeline once the upgrade request is complete.
///
/// A trusted proxy's connection is admitted under the proxy's address (only the total limit
/// applies) and moved to the client its `X-Forwarded-For` names once the request's headers are
/// read (`headersRead`), so every per-address limit counts the client (`ForwardedAgentClient`).
final class AgentConnectionGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let limiter: AddressLimiter
    private let requestTimeout: Double
    private let logger: Logger
    /// Where a connection that never completed its request is kept as per-address evidence
    /// (`HandshakeBook`; it has no connection id, so no agent can ever claim it). Nil in tests.
    private let book: HandshakeBook?
    /// Whether TLS sits in front of this handler (the 408 then means TLS or the request never completed).
    private let behindTLS: Bool
    /// Where refusals are counted; nil in tests.
    private let metrics: ServerMetrics?
    private var opened = 0.0
    private var slot: ConnectionSlot?
    private var deadline: Scheduled<Void>?
    /// Set once this handler answered on its own (429, 503, 408, 431): later bytes are dropped unread.
    private var answered = false
    /// Bytes of the HTTP request read so far; nil once the request is complete.
    private var requestBytes: Int? = 0
    /// The client a trusted proxy's PROXY header named (`ProxyHeaderHandler`); nil: the peer itself.
    private var proxiedClient: SocketAddress?
    /// The client a trusted proxy's `X-Forwarded-For` named, once the headers are read.
    private var forwardedClient: SocketAddress?
    /// Whether `X-Forwarded-For` names the client, decided once per connection.
    private var forwarding: ForwardedAgentClient
    /// What `headersRead` answered, for the second handler that asks.
    private var headersOutcome: HeadersRefusal??

    /// The connection's client: the address a trusted proxy named, else the peer's. Call on the
    /// channel's event loop.
    func client(of channel: any Channel) -> SocketAddress? {
        forwardedClient ?? proxiedClient ?? channel.remoteAddress
    }

    init(limiter: AddressLimiter, requestTimeout: Double, logger: Logger, book: HandshakeBook? = nil, behindTLS: Bool = false,
         metrics: ServerMetrics? = nil, trusted: TrustedProxies = TrustedProxies()) {
        self.limiter = limiter
        self.metrics = metrics
        self.requestTimeout = requestTimeout
        self.logger = logger
        self.book = book
        self.behindTLS = behindTLS
        forwarding = ForwardedAgentClient(trusted: trusted)
    }

    /// Why a request whose headers were read is answered instead of served.
    struct HeadersRefusal: Sendable, Equatable {
        var status: HTTPResponseStatus
        var body: String
        var retryAfter: Int?
    }

    /// The request's headers are read: when a trusted proxy sent it, the connection becomes its
    /// `X-Forwarded-For` client's, counted under that address. Nil: go on. Else this handler has
    /// answered with the refusal (400 for an unreadable header, 429 when the client holds its
    /// limit) and closes the connection: the caller sends nothing more. It answers itself because
    /// NIO's upgrade handler passes a declined upgrade request on to no one. Call on the
    /// channel's event loop; later calls return the first answer.
    func headersRead(_ headers: HTTPHeaders, channel: any Channel) -> HeadersRefusal? {
        if let decided = headersOutcome { return decided }
        let outcome = moveToForwardedClient(headers, channel: channel)
        headersOutcome = .some(outcome)
        if let outcome, !answered, let context = try? channel.pipeline.syncOperations.context(handler: self) {
            deadline?.cancel()
            deadline = nil
            answer(context: context, status: "\(outcome.status.code) \(outcome.status.reasonPhrase)", retryAfter: outcome.retryAfter, body: outcome.body)
        }
        return outcome
    }

    private func moveToForwardedClient(_ headers: HTTPHeaders, channel: any Channel) -> HeadersRefusal? {
        let sender = proxiedClient ?? channel.remoteAddress
        switch forwarding.headersRead(sender: sender, forwardedFor: headers[ForwardedClientMiddleware.header]) {
        case .keep:
            return nil
        case .refuse(let why):
            logger.notice("refused an agent-port request from trusted proxy \(sender?.peerDescription ?? "unknown"): \(LogSafe.text(why, limit: 120))")
            return HeadersRefusal(status: .badRequest, body: "\(why) (from a --trusted-proxy address)")
        case .forwarded(let address):
            forwardedClient = address
            let key = AddressLimiter.key(for: address)
            guard let held = slot, held.address != key else { return nil }
            switch limiter.transfer(held, to: key) {
            case .success(let moved):
                slot = moved
                channel.closeFuture.whenComplete { _ in moved.release() }
                return nil
            case .failure(let refusal):
                let seconds = max(1, Int(requestTimeout.rounded(.up)))
                guard refusal == .address else {
                    metrics?.refused(by: .unauthenticatedTotal)
                    return HeadersRefusal(status: .serviceUnavailable, body: "the server holds its limit of \(limiter.maxUnauthenticatedTotal) "
                                          + "unauthenticated connections (gururmm server --max-unauthenticated)", retryAfter: seconds)
                }
                metrics?.refused(by: .unauthenticatedPerAddress)
                return HeadersRefusal(status: .tooManyRequests, body: "too many unauthenticated connections from \(key): at most "
                                      + "\(limiter.maxUnauthenticated) per address (gururmm server --max-unauthenticated-per-address)", retryAfter: seconds)
            }
        }
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // Normally added before the channel is active; if added later, admit at once.
        if context.channel.isActive { admit(context: context) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // Comes before `channelActive`, so the connection is admitted under the client's address.
        if let proxied = event as? ProxiedClient { proxiedClient = proxied.address }
        context.fireUserInboundEventTriggered(event)
    }

    func channelActive(context: ChannelHandlerContext) {
        if slot == nil && !answered { admit(context: context) }
        if !answered { context.fireChannelActive() }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !answered else { return }
        if let read = requestBytes {
            requestBytes = read + unwrapInboundIn(data).readableBytes
        }
        if let read = requestBytes, read > WireLimits.maxUpgradeRequestBytes {
            deadline?.cancel()
            deadline = nil
            answer(context: context, status: "431 Request Header Fields Too Large", retryAfter: nil, body:
                "the HTTP request is longer than \(WireLimits.maxUpgradeRequestBytes) bytes; an agent's upgrade request is far shorter")
            return
        }
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        // Closed by the peer before its request was complete (under TLS, often before the TLS
        // handshake: an agent whose answer was lost on the path gives up this way).
        if deadline != nil, requestBytes != nil, !answered {
            noteIncomplete(address: AddressLimiter.key(for: client(of: context.channel)), closedBeforeDeadline: true)
        }
        deadline?.cancel()
        deadline = nil
        context.fireChannelInactive()
    }

    /// The HTTP request is complete: stops the request deadline and returns the connection's slot.
    /// Call on the channel's event loop.
    func requestComplete() throws -> ConnectionSlot {
        deadline?.cancel()
        deadline = nil
        requestBytes = nil
        guard let slot, !answered else { throw ChannelError.inappropriateOperationForState }
        return slot
    }

    private func admit(context: ChannelHandlerContext) {
        let sender = client(of: context.channel)
        let address = AddressLimiter.key(for: sender)
        let seconds = max(1, Int(requestTimeout.rounded(.up)))
        let slot: ConnectionSlot
        switch limiter.admission(address, asProxy: forwarding.isProxy(sender)) {
        case .success(let admitted):
            slot = admitted
        case .failure(.address):
            metrics?.refused(by: .unauthenticatedPerAddress)
            answer(context: context, status: "429 Too Many Requests", retryAfter: seconds, body:
                "too many unauthenticated connections from \(address): at most \(limiter.maxUnauthenticated) per address "
                + "(gururmm server --max-unauthenticated-per-address); retry in \(seconds) s")
            return
        case .failure(.total):
            metrics?.refused(by: .unauthenticatedTotal)
            answer(context: context, status: "503 Service Unavailable", retryAfter: seconds, body:
                "the server holds its limit of \(limiter.maxUnauthenticatedTotal) unauthenticated connections "
                + "(gururmm server --max-unauthenticated); retry in \(seconds) s")
            return
        }
        self.slot = slot
        opened = Date().timeIntervalSince1970
        context.channel.closeFuture.whenComplete { _ in slot.release() }
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(Int64(requestTimeout * 1000))) {
            self.deadline = nil
            self.noteIncomplete(address: address, closedBeforeDeadline: false)
            self.answer(context: context, status: "408 Request Timeout", retryAfter: nil, body:
                "no complete HTTP request within \(seconds) s (gururmm server --handshake-timeout)")
        }
    }

    /// TCP was accepted but no complete request came (under TLS: not even the TLS handshake, when
    /// no byte was decrypted): per-address evidence only.
    private func noteIncomplete(address: String, closedBeforeDeadline: Bool) {
        guard let book else { return }
        let nothingRead = (requestBytes ?? 0) == 0
        let what = behindTLS && nothingRead ? "TLS handshake or upgrade request" : nothingRead ? "upgrade request" : "complete upgrade request"
        let now = Date().timeIntervalSince1970
        let how = closedBeforeDeadline
            ? "TCP accepted; the peer closed after \(Int(max(0, now - opened))) s without a \(what)"
            : "TCP accepted; no \(what) within \(max(1, Int(requestTimeout.rounded(.up)))) s (answered 408)"
        book.note(HandshakeFact(
            connectionId: nil, address: address, stage: .tls, downlinkMode: .text, challengeWritten: false, controlFramesIn: 0, dataFramesIn: 0,
            closeReason: how, openedAt: opened, closedAt: now
        ))
    }

    /// Writes a whole HTTP/1.1 response as raw bytes (no HTTP handler has answered yet), then closes.
    private func answer(context: ChannelHandlerContext, status: String, retryAfter: Int?, body: String) {
        answered = true
        let remote = client(of: context.channel)?.peerDescription ?? "unknown"
        logger.debug("closed agent-port connection from \(remote) with \(status): \(body)")
        var text = "HTTP/1.1 \(status)\r\n"
        if let retryAfter { text += "Retry-After: \(retryAfter)\r\n" }
        text += "Content-Type: text/plain; charset=utf-8\r\nContent-Length: \(body.utf8.count + 1)\r\nConnection: close\r\n\r\n\(body)\n"
        let channel = context.channel
        // Half-close after the answer, and drop the connection a second later: closing at once with
        // the client's request unread would send a reset, which can destroy the answer in flight.
        context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(string: text))).whenComplete { _ in
            channel.close(mode: .output, promise: nil)
        }
        context.eventLoop.scheduleTask(in: .seconds(1)) { channel.close(promise: nil) }
    }
}
