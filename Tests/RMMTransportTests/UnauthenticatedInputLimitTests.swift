import Foundation
import NIOCore
import NIOEmbedded
import NIOWebSocket
import RMMProtocol
import RMMTestSupport
import RMMTransport
import Testing

/// A server-side link before and after its peer authenticates: at most
/// `WireLimits.maxUnauthenticatedBytes` read and no chunks before, the normal limits after.
@Suite("Input limit before authentication")
struct UnauthenticatedInputLimitTests {
    /// A link behind a real frame decoder (as after an upgrade), fed raw client bytes.
    private static func serverLink() async throws -> (NIOAsyncTestingChannel, WebSocketLink) {
        let channel = NIOAsyncTestingChannel()
        try await channel.connect(to: SocketAddress(ipAddress: "192.0.2.1", port: 1))
        let link = try await channel.testingEventLoop.executeInContext {
            try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: WireLimits.maxFrameBytes)))
            return try WebSocketLink.install(on: channel, isClient: false, unauthenticatedLimit: WireLimits.maxUnauthenticatedBytes)
        }
        return (channel, link)
    }

    private static func send(_ bytes: [UInt8], to channel: NIOAsyncTestingChannel) async throws {
        try await channel.writeInbound(ByteBuffer(bytes: bytes))
        await channel.testingEventLoop.run()
    }

    private static func textFrame(_ envelope: Envelope) throws -> [UInt8] {
        RawWebSocket.frame(payload: Array(try WireCodec().encode(envelope)))
    }

    private static func output(_ bytes: Int) -> Envelope {
        Envelope(.output(CommandOutput(commandId: "c1", stream: .stdout, offset: 0, data: Data(repeating: 0x61, count: bytes))), seq: 1)
    }

    @Test("a frame that would take the input past 64 KiB closes with 1009 and the reason, before it is decoded")
    func oneLargeFrame() async throws {
        let (channel, link) = try await Self.serverLink()
        var events = link.events.makeAsyncIterator()
        let frame = try Self.textFrame(Self.output(48 << 10))  // about 64 KiB of base64
        #expect(frame.count > WireLimits.maxUnauthenticatedBytes)
        try await Self.send(frame, to: channel)
        guard case .closed(let closure)? = await events.next() else {
            Issue.record("expected the link to close, not to deliver the message")
            return
        }
        #expect(closure == LinkClosure(code: CloseCode.messageTooBig.rawValue, reason: "more than 65536 bytes before authentication", byPeer: false))
        let written = try #require(try await channel.readOutbound(as: WebSocketFrame.self))
        #expect(written.opcode == .connectionClose)
        #expect(link.counters.decodeErrors == 1)
    }

    @Test("one message is read before authentication; a second closes with 1002 before it is held (tiny frames cannot multiply what the server keeps)")
    func oneMessageBeforeAuthentication() async throws {
        let (channel, link) = try await Self.serverLink()
        var events = link.events.makeAsyncIterator()
        let frame = try Self.textFrame(Self.output(1000))
        try await Self.send(Array([frame, frame, frame].joined()), to: channel)
        guard case .message? = await events.next() else {
            Issue.record("expected the first message to be delivered")
            return
        }
        guard case .closed(let closure)? = await events.next() else {
            Issue.record("expected a close")
            return
        }
        #expect(closure.code == CloseCode.protocolError.rawValue)
        #expect(closure.reason == "only one message (hello or enroll) is read before authentication")
    }

    @Test("a chunk before authentication closes with 1002; after peerAuthenticated() chunks and large frames pass")
    func chunksAndLimitsAfterAuthentication() async throws {
        let (channel, link) = try await Self.serverLink()
        var events = link.events.makeAsyncIterator()
        var chunker = Chunker()
        let big = Self.output(200 << 10)
        let chunks = try chunker.frames(for: try WireCodec().encode(big), maxMessageBytes: 64 << 10)
        #expect(chunks.count > 1)
        try await Self.send(RawWebSocket.frame(payload: Array(chunks[0])), to: channel)
        guard case .closed(let refused)? = await events.next() else {
            Issue.record("expected the chunk to be refused")
            return
        }
        #expect(refused == LinkClosure(code: CloseCode.protocolError.rawValue, reason: "chunked messages are refused before authentication", byPeer: false))

        let (fresh, authenticated) = try await Self.serverLink()
        var later = authenticated.events.makeAsyncIterator()
        authenticated.peerAuthenticated()
        await fresh.testingEventLoop.run()
        let large = Self.output(300 << 10)
        try await Self.send(try Self.textFrame(large), to: fresh)
        guard case .message(let first)? = await later.next() else {
            Issue.record("expected a 400 KB frame to pass once authenticated")
            return
        }
        #expect(first == large)
        try await Self.send(Array(chunks.map { RawWebSocket.frame(payload: Array($0)) }.joined()), to: fresh)
        guard case .message(let whole)? = await later.next() else {
            Issue.record("expected the chunked message to be reassembled once authenticated")
            return
        }
        #expect(whole == big)
        #expect(authenticated.isOpen)
    }
}
