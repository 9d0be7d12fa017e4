import NIOCore
import NIOPosix
import Synchronization

/// Writes back whatever it reads.
private final class EchoHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.writeAndFlush(data, promise: nil)
    }
}

/// The sockets an echo server accepted, so a test can close them from the server side.
private final class AcceptedChannels: Sendable {
    private let channels = Mutex<[any Channel]>([])

    func add(_ channel: any Channel) {
        channels.withLock { $0.append(channel) }
    }

    var all: [any Channel] {
        channels.withLock { $0 }
    }
}

/// A TCP echo server on 127.0.0.1 with an ephemeral port.
final class EchoServer: Sendable {
    let port: Int
    private let channel: any Channel
    private let accepted: AcceptedChannels

    private init(port: Int, channel: any Channel, accepted: AcceptedChannels) {
        self.port = port
        self.channel = channel
        self.accepted = accepted
    }

    static func start(group: any EventLoopGroup) async throws -> EchoServer {
        let accepted = AcceptedChannels()
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { child in
                accepted.add(child)
                return child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.addHandler(EchoHandler())
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        guard let port = channel.localAddress?.port else {
            try await channel.close()
            throw TestFailure("echo server reported no port")
        }
        return EchoServer(port: port, channel: channel, accepted: accepted)
    }

    /// How many connections the server has accepted.
    var acceptedCount: Int {
        accepted.all.count
    }

    /// Closes every accepted socket, as a server reaping its sessions would.
    func closeAcceptedConnections() async {
        for child in accepted.all {
            try? await child.close()
        }
    }

    func stop() async {
        await closeAcceptedConnections()
        try? await channel.close()
    }
}

/// A test-setup failure with a readable message.
struct TestFailure: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}
