import NIOCore
import NIOHTTP1
import NIOPosix

/// Serves fixed pages on a loopback port the OS picks, each with its own headers (a CSP, a
/// cookie): the browser harness's smoke test needs a site, not the GuruRMM server.
final class StaticPageServer: Sendable {
    /// A page: its type, body and extra response headers.
    struct Page: Sendable {
        var contentType: String
        var body: String
        var headers: [(String, String)] = []
    }

    let port: Int
    private let channel: any Channel

    private init(port: Int, channel: any Channel) {
        self.port = port
        self.channel = channel
    }

    static func start(_ pages: [String: Page]) async throws -> StaticPageServer {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(PageHandler(pages: pages))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return StaticPageServer(port: channel.localAddress?.port ?? 0, channel: channel)
    }

    func stop() async { try? await channel.close() }

    /// Answers each request with its path's page (the query ignored), or 404.
    private final class PageHandler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let pages: [String: Page]
        var path = "/"

        init(pages: [String: Page]) { self.pages = pages }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head): path = String(head.uri.prefix { $0 != "?" })
            case .body: break
            case .end:
                let page = pages[path] ?? Page(contentType: "text/plain", body: "not found")
                var headers = HTTPHeaders([("Content-Type", page.contentType), ("Content-Length", String(page.body.utf8.count))])
                headers.add(contentsOf: page.headers)
                let head = HTTPResponseHead(version: .http1_1, status: pages[path] == nil ? .notFound : .ok, headers: headers)
                context.write(wrapOutboundOut(.head(head)), promise: nil)
                context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: page.body)))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            }
        }
    }
}
