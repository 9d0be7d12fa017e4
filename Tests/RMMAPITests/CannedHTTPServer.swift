import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A loopback HTTP/1.1 server that records each request and answers it from a table: enough to
/// see what the typed client sends and how it reads answers, without a GuruRMM server.
final class CannedHTTPServer: Sendable {
    /// One request as it arrived.
    struct Recorded: Sendable {
        var method: String
        var uri: String
        var authorization: String?
        var body: Data
    }

    /// An answer: status, body and content type.
    struct Answer: Sendable {
        var status: Int
        var body: String
        var contentType = "application/json"
    }

    let port: Int
    private let channel: any Channel
    private let log: Mutex<[Recorded]>

    var requests: [Recorded] { log.withLock { $0 } }

    private init(port: Int, channel: any Channel) {
        self.port = port
        self.channel = channel
        log = Mutex([])
    }

    /// Binds 127.0.0.1 on a free port; `answer` picks each request's answer.
    static func start(_ answer: @escaping @Sendable (Recorded) -> Answer) async throws -> CannedHTTPServer {
        let recorder = Recorder()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Handler(answer: answer, recorder: recorder))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        guard let port = channel.localAddress?.port else { throw CannedError.noPort }
        let server = CannedHTTPServer(port: port, channel: channel)
        recorder.server.withLock { $0 = server }
        return server
    }

    func record(_ request: Recorded) { log.withLock { $0.append(request) } }

    func stop() async { try? await channel.close() }

    enum CannedError: Error { case noPort }

    /// Lets the handlers reach the server object created after the bind.
    final class Recorder: Sendable {
        let server = Mutex<CannedHTTPServer?>(nil)
        func record(_ request: Recorded) { server.withLock { $0 }?.record(request) }
    }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let answer: @Sendable (Recorded) -> Answer
        let recorder: Recorder
        var head: HTTPRequestHead?
        var body = Data()

        init(answer: @escaping @Sendable (Recorded) -> Answer, recorder: Recorder) {
            self.answer = answer
            self.recorder = recorder
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                self.head = head
                body = Data()
            case .body(var buffer):
                body.append(contentsOf: buffer.readBytes(length: buffer.readableBytes) ?? [])
            case .end:
                guard let head else { return }
                let request = Recorded(method: head.method.rawValue, uri: head.uri, authorization: head.headers.first(name: "Authorization"), body: body)
                recorder.record(request)
                let reply = answer(request)
                var headers = HTTPHeaders()
                headers.add(name: "Content-Type", value: reply.contentType)
                headers.add(name: "Content-Length", value: String(reply.body.utf8.count))
                headers.add(name: "Connection", value: "close")
                context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: reply.status), headers: headers))), promise: nil)
                context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: reply.body)))), promise: nil)
                let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
                context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in bound.value.close(promise: nil) }
            }
        }
    }
}
