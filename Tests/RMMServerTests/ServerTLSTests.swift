import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import RMMTestSupport
import RMMTransport
import Testing

@testable import RMMServer

/// The server's self-signed TLS identity and the client's key pin, over a real TLS handshake.
@Suite("Server TLS")
struct ServerTLSTests {
    private func dataDirectory() throws -> DataDirectory {
        try DataDirectory(path: try freeTemporaryDirectory(prefix: "gururmm-tls") + "/data")
    }

    @Test("the first start creates a 0600 key and certificate; later starts keep the same pin")
    func selfSignedIsStable() throws {
        let data = try dataDirectory()
        let first = try #require(try ServerTLS.load(.selfSigned, dataDirectory: data))
        let again = try #require(try ServerTLS.load(.selfSigned, dataDirectory: data))
        #expect(first.pin == again.pin)
        #expect(try TLSTrust(parsing: first.pin) == .pinned(first.pin))
        for file in ["tls.key", "tls.crt"] {
            let mode = try FileManager.default.attributesOfItem(atPath: data.path + "/" + file)[.posixPermissions] as? Int
            #expect(mode == 0o600)
        }
        #expect(try ServerTLS.load(.plain, dataDirectory: data) == nil)
    }

    @Test("a key whose certificate is missing (a first start stopped between the writes) gets its certificate again, with the same pin")
    func certificateRemadeForTheSameKey() throws {
        let data = try dataDirectory()
        let first = try #require(try ServerTLS.load(.selfSigned, dataDirectory: data))
        try FileManager.default.removeItem(atPath: data.path + "/tls.crt")
        let again = try #require(try ServerTLS.load(.selfSigned, dataDirectory: data))
        #expect(again.pin == first.pin)
        #expect(FileManager.default.fileExists(atPath: data.path + "/tls.crt"))
    }

    @Test("an operator's certificate files are served; unreadable ones fail with the path")
    func operatorFiles() throws {
        let data = try dataDirectory()
        let (certificate, key) = try ServerTLS.selfSigned()
        try certificate.write(toFile: data.path + "/mine.crt", atomically: true, encoding: .utf8)
        try key.write(toFile: data.path + "/mine.key", atomically: true, encoding: .utf8)
        let tls = try ServerTLS.load(.files(certificate: data.path + "/mine.crt", key: data.path + "/mine.key"), dataDirectory: data)
        #expect(tls?.pin.count == 43)
        #expect {
            try ServerTLS.load(.files(certificate: data.path + "/missing.crt", key: data.path + "/mine.key"), dataDirectory: data)
        } throws: { error in
            "\(error)".contains(data.path + "/missing.crt")
        }
        try "not a certificate".write(toFile: data.path + "/bad.crt", atomically: true, encoding: .utf8)
        #expect(throws: RequestError.self) { try ServerTLS.load(.files(certificate: data.path + "/bad.crt", key: data.path + "/mine.key"), dataDirectory: data) }
    }

    @Test("a client with the right pin completes the handshake; another pin is refused")
    func pinnedHandshake() async throws {
        let tls = try #require(try ServerTLS.load(.selfSigned, dataDirectory: try dataDirectory()))
        let context = try NIOSSLContext(configuration: tls.configuration)
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(NotFoundResponder())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        defer { server.close(promise: nil) }
        let port = try #require(server.localAddress?.port)
        let reply = try await OneShotHTTP.request(.GET, host: "127.0.0.1", port: port, path: "/", tls: .pinned(tls.pin))
        #expect(reply.status == 404)
        await #expect(throws: HTTPFetchError.self) {
            _ = try await OneShotHTTP.request(.GET, host: "127.0.0.1", port: port, path: "/", tls: .pinned(String(repeating: "A", count: 43)))
        }
        await #expect(throws: HTTPFetchError.self) {
            _ = try await OneShotHTTP.request(.GET, host: "127.0.0.1", port: port, path: "/", tls: .system)
        }
    }
}

/// Answers every request with an empty 404 (enough to prove the TLS session carried HTTP).
private final class NotFoundResponder: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .end = unwrapInboundIn(data) else { return }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Length", value: "0")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .notFound, headers: headers))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}
