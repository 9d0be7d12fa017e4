import Crypto
import Foundation
import NIOCore
import NIOPosix
import RMMProtocol
import RMMTransport
import Testing

/// A raw TCP "server" that answers any upgrade with a 101 and, in the very same write, a first
/// WebSocket frame, then a close frame: the worst case for a client's upgrade handling.
private final class EagerServerHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let firstFrame: [UInt8]

    init(firstFrame: [UInt8]) { self.firstFrame = firstFrame }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var request = unwrapInboundIn(data)
        guard let text = request.readString(length: request.readableBytes), text.contains("\r\n\r\n"),
              let keyLine = text.split(separator: "\r\n").first(where: { $0.lowercased().hasPrefix("sec-websocket-key:") }) else { return }
        let key = keyLine.split(separator: ":", maxSplits: 1)[1].trimmingCharacters(in: .whitespaces)
        let accept = webSocketAccept(for: key)
        var out = context.channel.allocator.buffer(capacity: 512)
        out.writeString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: \(accept)\r\n\r\n")
        out.writeBytes(firstFrame)
        out.writeBytes([0x88, 0x02, 0x03, 0xE8])  // close 1000
        context.writeAndFlush(NIOAny(out), promise: nil)
    }
}

/// The Sec-WebSocket-Accept answering `key` (RFC 6455 §4.2.2: base64(SHA-1(key + GUID))).
func webSocketAccept(for key: String) -> String {
    Data(Insecure.SHA1.hash(data: Data((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").utf8))).base64EncodedString()
}

@Suite("Transport")
struct ConnectorTests {
    @Test("a frame that arrives in the same read as the 101 response is not lost")
    func firstFrameInSameReadAsUpgrade() async throws {
        let challenge = try WireCodec().encode(Envelope(.challenge(Challenge(nonce: "n", serverVersion: "t"))))
        let frame: [UInt8] = [0x81, UInt8(challenge.count)] + Array(challenge)
        #expect(challenge.count < 126)
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(EagerServerHandler(firstFrame: frame)) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(server.localAddress?.port)
        let link = try await WebSocketConnector.connect(to: try ServerEndpoint(parsing: "ws://127.0.0.1:\(port)"))
        // Bound the wait: if the frames were dropped, no event would ever come; aborting the link
        // after a generous deadline turns that hang into a clear failure.
        let watchdog = Task {
            try await Task.sleep(for: .seconds(10))
            link.abort()
        }
        defer { watchdog.cancel() }
        var events = link.events.makeAsyncIterator()
        let first = await events.next()
        guard case .message(let envelope)? = first, case .challenge(let got) = envelope.message else {
            Issue.record("expected the challenge first, got \(String(describing: first))")
            try await server.close()
            return
        }
        #expect(got.nonce == "n")
        guard case .closed(let closure)? = await events.next() else {
            Issue.record("expected the close next")
            try await server.close()
            return
        }
        #expect(closure.code == 1000)
        #expect(closure.byPeer)
        try await server.close()
    }

    @Test("a ws:// URL is parsed, and anything else is refused with a reason")
    func endpoints() throws {
        let endpoint = try ServerEndpoint(parsing: "ws://example.test:9000")
        #expect(endpoint.port == 9000 && endpoint.path == "/agent")
        #expect(try ServerEndpoint(parsing: "ws://h").port == 7443)
        #expect(throws: TransportError.self) { try ServerEndpoint(parsing: "http://h:1") }
        #expect(throws: TransportError.self) { try ServerEndpoint(parsing: "not a url") }
    }
}
