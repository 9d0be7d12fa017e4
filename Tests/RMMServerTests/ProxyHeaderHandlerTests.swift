import Logging
import NIOCore
import NIOEmbedded
import RMMProtocol
import Testing
@testable import RMMServer

/// The agent port's PROXY handler on an embedded channel: a trusted proxy's header becomes the
/// client address the connection guard counts (before `channelActive`), the bytes after it pass
/// on untouched, and every refusal closes the connection.
@Suite("PROXY header handler")
struct ProxyHeaderHandlerTests {
    /// Records what reaches the handler behind.
    final class Recorder: ChannelInboundHandler, @unchecked Sendable {
        // Safe: an EmbeddedChannel runs every handler call on the test's own thread.
        typealias InboundIn = ByteBuffer
        var events: [String] = []

        func channelActive(context: ChannelHandlerContext) { events.append("active") }
        func channelInactive(context: ChannelHandlerContext) { events.append("inactive") }
        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if let proxied = event as? ProxiedClient { events.append("client \(proxied.address.peerDescription)") }
        }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            events.append("read \(String(buffer: unwrapInboundIn(data)))")
        }
    }

    static let trusted = (try? TrustedProxies(parsing: ["127.0.0.1/32"])) ?? TrustedProxies()
    static let v2Header: [UInt8] = ProxyHeader.v2Signature + [0x21, 0x11, 0x00, 0x0C, 192, 0, 2, 7, 127, 0, 0, 1, 0xC3, 0x50, 0x1D, 0x13]

    /// A channel from `peer` behind the handler, connected (an embedded channel's peer is the
    /// address it connects to).
    func connected(peer: String) throws -> (EmbeddedChannel, Recorder) {
        let recorder = Recorder()
        let channel = EmbeddedChannel()
        channel.remoteAddress = try SocketAddress(ipAddress: peer, port: 40000)
        try channel.pipeline.syncOperations.addHandler(ProxyHeaderHandler(trusted: Self.trusted, timeout: .seconds(5), logger: Logger(label: "test")))
        try channel.pipeline.syncOperations.addHandler(recorder)
        try channel.connect(to: try #require(channel.remoteAddress)).wait()
        return (channel, recorder)
    }

    @Test("a trusted proxy's v2 header, read a byte at a time: the client first, then active, then the rest; the handler leaves")
    func trustedHeader() throws {
        let (channel, recorder) = try connected(peer: "127.0.0.1")
        #expect(recorder.events.isEmpty, "active waits for the header")
        for byte in Self.v2Header { try channel.writeInbound(ByteBuffer(bytes: [byte])) }
        try channel.writeInbound(ByteBuffer(string: "GET /agent"))
        #expect(recorder.events == ["client 192.0.2.7:50000", "active", "read GET /agent"])
        #expect(throws: (any Error).self) { try channel.pipeline.syncOperations.handler(type: ProxyHeaderHandler.self) }
        _ = try? channel.finish()
    }

    @Test("v1 with the request in the same read; a trusted proxy without a header passes as itself")
    func v1AndAbsent() throws {
        let (channel, recorder) = try connected(peer: "127.0.0.1")
        try channel.writeInbound(ByteBuffer(string: "PROXY TCP6 2001:db8::9 ::1 443 7443\r\nGET"))
        #expect(recorder.events == ["client 2001:db8::9:443", "active", "read GET"])
        _ = try? channel.finish()

        let (plain, plainRecorder) = try connected(peer: "127.0.0.1")
        try plain.writeInbound(ByteBuffer(string: "GET /healthz"))
        #expect(plainRecorder.events == ["active", "read GET /healthz"])
        _ = try? plain.finish()
    }

    @Test("a header from an untrusted peer closes the connection; its own bytes pass")
    func untrusted() throws {
        let (channel, recorder) = try connected(peer: "203.0.113.5")
        #expect(recorder.events == ["active"], "an untrusted peer is active at once")
        try channel.writeInbound(ByteBuffer(bytes: Self.v2Header))
        #expect(!channel.isActive)
        #expect(!recorder.events.contains { $0.hasPrefix("client") || $0.hasPrefix("read") })

        let (other, otherRecorder) = try connected(peer: "203.0.113.5")
        try other.writeInbound(ByteBuffer(string: "POST /x"))
        #expect(otherRecorder.events == ["active", "read POST /x"])
        _ = try? other.finish()
    }

    @Test("a broken or oversized header, or silence, from a trusted proxy closes it before anything is active")
    func refusals() throws {
        for bytes in [Array("PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\n".utf8), ProxyHeader.v2Signature + [0x21, 0x11, 0xFF, 0xFF],
                      Array("PROXY ".utf8) + Array(repeating: 0x41, count: 300)] {
            let (channel, recorder) = try connected(peer: "127.0.0.1")
            try channel.writeInbound(ByteBuffer(bytes: bytes))
            #expect(!channel.isActive)
            #expect(recorder.events.isEmpty, "\(recorder.events)")
        }
        let (silent, silentRecorder) = try connected(peer: "127.0.0.1")
        silent.embeddedEventLoop.advanceTime(by: .seconds(6))
        #expect(!silent.isActive)
        #expect(silentRecorder.events.isEmpty)
    }

    @Test("without --trusted-proxy the handler is not in an agent-port pipeline at all; with it, it is")
    func onlyWhenTrusting() throws {
        let logger = Logger(label: "test")
        let limiter = AddressLimiter(maxUnauthenticated: 4, maxFailures: 5)
        let plain = EmbeddedChannel()
        try AgentGateway.addFrontHandlers(to: plain, settings: ServerSettings(), tls: nil,
                                          connectionGuard: AgentConnectionGuard(limiter: limiter, requestTimeout: 5, logger: logger), logger: logger)
        #expect(throws: (any Error).self) { try plain.pipeline.syncOperations.handler(type: ProxyHeaderHandler.self) }
        _ = try? plain.finish()

        var settings = ServerSettings()
        settings.trustedProxies = Self.trusted
        let proxied = EmbeddedChannel()
        try AgentGateway.addFrontHandlers(to: proxied, settings: settings, tls: nil,
                                          connectionGuard: AgentConnectionGuard(limiter: limiter, requestTimeout: 5, logger: logger), logger: logger)
        _ = try proxied.pipeline.syncOperations.handler(type: ProxyHeaderHandler.self)
        _ = try? proxied.finish()
    }

    @Test("the connection guard counts a proxied connection under the client's address")
    func guardCountsClient() throws {
        let logger = Logger(label: "test")
        let limiter = AddressLimiter(maxUnauthenticated: 4, maxFailures: 5)
        var settings = ServerSettings()
        settings.trustedProxies = Self.trusted
        let channel = EmbeddedChannel()
        channel.remoteAddress = try SocketAddress(ipAddress: "127.0.0.1", port: 40000)
        try AgentGateway.addFrontHandlers(to: channel, settings: settings, tls: nil,
                                          connectionGuard: AgentConnectionGuard(limiter: limiter, requestTimeout: 5, logger: logger), logger: logger)
        try channel.connect(to: try #require(channel.remoteAddress)).wait()
        #expect(limiter.unauthenticatedCount("127.0.0.1") == 0)
        try channel.writeInbound(ByteBuffer(bytes: Self.v2Header))
        #expect(limiter.unauthenticatedCount("192.0.2.7") == 1)
        #expect(limiter.unauthenticatedCount("127.0.0.1") == 0, "the proxy itself holds no slot")
        _ = try? channel.finish()
    }
}
