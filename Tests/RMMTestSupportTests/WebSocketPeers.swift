import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import RMMTestSupport
import Synchronization

/// Largest frame the test peers accept: well above the few-MiB bursts the tests send.
private let maxTestFrameSize = 1 << 24

/// One frame a test peer received, unmasked.
struct ReceivedFrame: Sendable, Equatable {
    var opcode: WebSocketOpcode
    var payload: [UInt8]

    var text: String {
        String(decoding: payload, as: UTF8.self)
    }
}

/// Every frame one WebSocket end received, in order.
final class FrameLog: Sendable {
    private let frames = Mutex<[ReceivedFrame]>([])

    func append(_ frame: ReceivedFrame) {
        frames.withLock { $0.append(frame) }
    }

    var all: [ReceivedFrame] {
        frames.withLock { $0 }
    }

    /// Text and binary frames only.
    var dataFrames: [ReceivedFrame] {
        all.filter { $0.opcode == .text || $0.opcode == .binary || $0.opcode == .continuation }
    }

    func contains(_ opcode: WebSocketOpcode, _ text: String) -> Bool {
        all.contains { $0.opcode == opcode && $0.text == text }
    }
}

/// Records every frame and answers pings, as any WebSocket end must.
private final class RecordingFrameHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let log: FrameLog
    private let masks: Bool

    init(log: FrameLog, masks: Bool) {
        self.log = log
        self.masks = masks
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        log.append(ReceivedFrame(opcode: frame.opcode, payload: Array(frame.unmaskedData.readableBytesView)))
        if frame.opcode == .ping {
            var pong = WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)
            pong.maskKey = masks ? .random() : nil
            context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
        }
    }
}

/// One end of a test WebSocket connection: the client masks its frames, the server does not.
struct WebSocketPeer: Sendable {
    let channel: any Channel
    let log: FrameLog
    let masks: Bool

    /// Writes one frame; writes from one task reach the wire in order.
    func send(_ opcode: WebSocketOpcode, _ payload: [UInt8]) {
        var frame = WebSocketFrame(fin: true, opcode: opcode, data: ByteBuffer(bytes: payload))
        frame.maskKey = masks ? .random() : nil
        channel.writeAndFlush(frame, promise: nil)
    }

    func send(text: String) {
        send(.text, Array(text.utf8))
    }

    /// Pings with `tag` and waits for its pong. The peer answers a ping only after every frame
    /// sent before it, and its answer travels behind every frame it sent before, so once the pong
    /// is back both directions are drained: a frame that has not arrived by then was lost.
    func barrier(_ tag: String) async throws {
        send(.ping, Array(tag.utf8))
        try await waitUntil("pong for \(tag)", timeout: .seconds(10)) { log.contains(.pong, tag) }
    }

    static func install(on channel: any Channel, masks: Bool) throws -> WebSocketPeer {
        let log = FrameLog()
        try channel.pipeline.syncOperations.addHandler(RecordingFrameHandler(log: log, masks: masks))
        return WebSocketPeer(channel: channel, log: log, masks: masks)
    }

    /// Connects to 127.0.0.1:`port` and completes the WebSocket upgrade.
    static func connect(port: Int, group: any EventLoopGroup) async throws -> WebSocketPeer {
        let upgrade: EventLoopFuture<WebSocketPeer> = try await ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let upgrader = NIOTypedWebSocketClientUpgrader<WebSocketPeer>(
                        maxFrameSize: maxTestFrameSize,
                        upgradePipelineHandler: { channel, _ in
                            channel.eventLoop.makeCompletedFuture { try install(on: channel, masks: true) }
                        }
                    )
                    var headers = HTTPHeaders()
                    headers.add(name: "Host", value: "127.0.0.1:\(port)")
                    headers.add(name: "Content-Length", value: "0")
                    let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/agent", headers: headers)
                    let configuration = NIOTypedHTTPClientUpgradeConfiguration<WebSocketPeer>(
                        upgradeRequestHead: head,
                        upgraders: [upgrader],
                        notUpgradingCompletionHandler: { channel in
                            channel.eventLoop.makeFailedFuture(TestFailure("the server refused the WebSocket upgrade"))
                        }
                    )
                    var pipeline = NIOUpgradableHTTPClientPipelineConfiguration(upgradeConfiguration: configuration)
                    // Frames may arrive in the same read as the 101 response.
                    pipeline.leftOverBytesStrategy = .forwardBytes
                    return try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(configuration: pipeline)
                }
            }
        return try await upgrade.get()
    }
}

/// The server ends of the connections a `WebSocketTestServer` upgraded.
private final class PeerList: Sendable {
    private let peers = Mutex<[WebSocketPeer]>([])

    func add(_ peer: WebSocketPeer) {
        peers.withLock { $0.append(peer) }
    }

    var all: [WebSocketPeer] {
        peers.withLock { $0 }
    }
}

/// A WebSocket server on 127.0.0.1 that records what each connection receives and lets a test
/// send from the server end.
final class WebSocketTestServer: Sendable {
    let port: Int
    private let channel: any Channel
    private let peers: PeerList

    private init(port: Int, channel: any Channel, peers: PeerList) {
        self.port = port
        self.channel = channel
        self.peers = peers
    }

    static func start(group: any EventLoopGroup) async throws -> WebSocketTestServer {
        let peers = PeerList()
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture {
                    let upgrader = NIOTypedWebSocketServerUpgrader<Void>(
                        maxFrameSize: maxTestFrameSize,
                        shouldUpgrade: { channel, _ in channel.eventLoop.makeSucceededFuture(HTTPHeaders()) },
                        upgradePipelineHandler: { channel, _ in
                            channel.eventLoop.makeCompletedFuture { peers.add(try WebSocketPeer.install(on: channel, masks: false)) }
                        }
                    )
                    let configuration = NIOTypedHTTPServerUpgradeConfiguration<Void>(
                        upgraders: [upgrader],
                        notUpgradingCompletionHandler: { channel in
                            channel.eventLoop.makeCompletedFuture { channel.close(promise: nil) }
                        }
                    )
                    // The negotiation's outcome is seen through `peers`.
                    _ = try child.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(
                        configuration: .init(upgradeConfiguration: configuration)
                    )
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        guard let port = channel.localAddress?.port else {
            try await channel.close()
            throw TestFailure("WebSocket server reported no port")
        }
        return WebSocketTestServer(port: port, channel: channel, peers: peers)
    }

    /// The server end of every upgraded connection, in accept order.
    var connections: [WebSocketPeer] {
        peers.all
    }

    func stop() async {
        for peer in peers.all {
            try? await peer.channel.close()
        }
        try? await channel.close()
    }
}
