import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Many idle client sockets to one server port, each from a chosen local address: what
/// `gururmm bench --unauthenticated` holds open while it reads the server's memory.
final class IdleSockets: Sendable {
    /// What the sockets saw, counted across all of them.
    struct Tally: Sendable {
        /// Sockets whose WebSocket upgrade was answered with 101 and a first frame (the challenge).
        var upgraded = 0
        /// Sockets the server closed.
        var closedByServer = 0
        /// Sockets answered with this HTTP status (503, 429, 408, …) before the server closed them.
        var statuses: [Int: Int] = [:]
    }

    private let channels = NIOLockedValueBox<[any Channel]>([])
    private let tally = NIOLockedValueBox(Tally())
    /// Set while `closeAll` closes the sockets: those closes are not the server's.
    private let closing = NIOLockedValueBox(false)

    var counts: Tally { tally.withLockedValue { $0 } }
    var open: Int { channels.withLockedValue { $0.count } }

    /// Opens `count` connections to `127.0.0.1:port`, spread over `sources` in turn, at most
    /// `inFlight` connecting at once; with `upgrade` each sends a WebSocket upgrade request for
    /// `/agent` and then nothing more.
    func open(count: Int, port: Int, sources: [String], upgrade: Bool, inFlight: Int = 256) async throws {
        guard !sources.isEmpty else { throw BenchError("no source addresses") }
        let tally = self.tally
        let closing = self.closing
        closing.withLockedValue { $0 = false }
        var index = 0
        while index < count {
            let batch = index..<min(count, index + inFlight)
            let connected = try await withThrowingTaskGroup(of: (any Channel).self) { group in
                for i in batch {
                    let source = sources[i % sources.count]
                    group.addTask {
                        try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                            .bind(to: try SocketAddress(ipAddress: source, port: 0))
                            .channelInitializer { channel in
                                channel.eventLoop.makeCompletedFuture {
                                    try channel.pipeline.syncOperations.addHandler(IdleSocketHandler(tally: tally, closing: closing, upgrade: upgrade))
                                }
                            }
                            .connect(host: "127.0.0.1", port: port).get()
                    }
                }
                var out: [any Channel] = []
                for try await channel in group { out.append(channel) }
                return out
            }
            channels.withLockedValue { $0 += connected }
            index = batch.upperBound
        }
    }

    /// Closes every socket and waits until all are closed.
    func closeAll() async {
        closing.withLockedValue { $0 = true }
        let all = channels.withLockedValue { channels in
            defer { channels = [] }
            return channels
        }
        for channel in all { channel.close(promise: nil) }
        for channel in all { try? await channel.closeFuture.get() }
    }
}

/// Reads what the server sends on one idle socket, just enough to tally it.
private final class IdleSocketHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let tally: NIOLockedValueBox<IdleSockets.Tally>
    private let closing: NIOLockedValueBox<Bool>
    private let upgrade: Bool
    private var head: [UInt8] = []
    private var counted = false

    init(tally: NIOLockedValueBox<IdleSockets.Tally>, closing: NIOLockedValueBox<Bool>, upgrade: Bool) {
        self.tally = tally
        self.closing = closing
        self.upgrade = upgrade
    }

    func channelActive(context: ChannelHandlerContext) {
        if upgrade {
            let request = "GET /agent HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: request)), promise: nil)
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !counted else { return }
        var buffer = unwrapInboundIn(data)
        head += buffer.readBytes(length: min(buffer.readableBytes, 4096 - head.count)) ?? []
        let text = String(decoding: head, as: UTF8.self)
        guard let end = text.range(of: "\r\n\r\n") else { return }
        let status = Int(text.split(separator: " ").dropFirst().first ?? "") ?? 0
        if status == 101 {
            // The challenge frame follows the head: a frame header is at least two bytes.
            guard head.count >= text[..<end.upperBound].utf8.count + 2 else { return }
            counted = true
            tally.withLockedValue { $0.upgraded += 1 }
        } else {
            counted = true
            tally.withLockedValue { $0.statuses[status, default: 0] += 1 }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !closing.withLockedValue({ $0 }) { tally.withLockedValue { $0.closedByServer += 1 } }
        context.fireChannelInactive()
    }
}
