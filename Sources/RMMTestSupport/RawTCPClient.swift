import NIOCore
import NIOPosix
import Synchronization

/// A plain TCP connection from a chosen local address, for tests that play a hostile or broken
/// client: it sends whatever bytes the test gives it and records everything the server sends
/// back, and whether the server closed the connection.
public final class RawTCPClient: Sendable {
    private struct Seen {
        var bytes: [UInt8] = []
        var closed = false
    }

    /// Records the server's bytes and the end of the connection.
    private final class Recorder: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let seen = Mutex(Seen())

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            seen.withLock { $0.bytes.append(contentsOf: buffer.readableBytesView) }
        }

        func channelInactive(context: ChannelHandlerContext) {
            seen.withLock { $0.closed = true }
            context.fireChannelInactive()
        }
    }

    private let channel: any Channel
    private let recorder: Recorder

    private init(channel: any Channel, recorder: Recorder) {
        self.channel = channel
        self.recorder = recorder
    }

    /// Connects to `host:port` from `sourceAddress` (any 127.0.0.x works on Linux loopback).
    public static func connect(host: String, port: Int, from sourceAddress: String) async throws -> RawTCPClient {
        let recorder = Recorder()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(to: try SocketAddress(ipAddress: sourceAddress, port: 0))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(recorder) }
            }
            .connect(host: host, port: port)
            .get()
        return RawTCPClient(channel: channel, recorder: recorder)
    }

    public func send(_ text: String) async throws {
        try await channel.writeAndFlush(channel.allocator.buffer(string: text))
    }

    public func send(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(channel.allocator.buffer(bytes: bytes))
    }

    /// Everything received so far, as UTF-8 text.
    public var received: String {
        recorder.seen.withLock { String(decoding: $0.bytes, as: UTF8.self) }
    }

    /// Everything received so far, as bytes.
    public var receivedBytes: [UInt8] {
        recorder.seen.withLock { $0.bytes }
    }

    /// True once the server closed the connection (or it broke).
    public var isClosed: Bool {
        recorder.seen.withLock { $0.closed }
    }

    public func close() async {
        try? await channel.close()
    }
}
