import NIOCore
import NIOPosix
import Synchronization

/// What a test client has seen on its socket.
final class ClientObservations: Sendable {
    private struct State {
        var received: [UInt8] = []
        var closed = false
    }

    private let state = Mutex(State())

    var receivedText: String {
        state.withLock { String(decoding: $0.received, as: UTF8.self) }
    }

    var closed: Bool {
        state.withLock { $0.closed }
    }

    func append(_ buffer: ByteBuffer) {
        state.withLock { $0.received.append(contentsOf: buffer.readableBytesView) }
    }

    func markClosed() {
        state.withLock { $0.closed = true }
    }
}

/// Records received bytes and the moment the socket closes (EOF or error).
private final class RecordingHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer

    private let observations: ClientObservations

    init(observations: ClientObservations) {
        self.observations = observations
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        observations.append(unwrapInboundIn(data))
    }

    func channelInactive(context: ChannelHandlerContext) {
        observations.markClosed()
        context.fireChannelInactive()
    }
}

/// A plain TCP client whose traffic a test can inspect.
struct TestClient: Sendable {
    let channel: any Channel
    let observations: ClientObservations

    static func connect(port: Int, group: any EventLoopGroup) async throws -> TestClient {
        let observations = ClientObservations()
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(RecordingHandler(observations: observations))
                }
            }
            .connect(host: "127.0.0.1", port: port)
            .get()
        return TestClient(channel: channel, observations: observations)
    }

    func send(_ text: String) async throws {
        try await channel.writeAndFlush(channel.allocator.buffer(string: text))
    }

    func close() async {
        try? await channel.close()
    }
}
