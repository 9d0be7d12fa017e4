import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import RMMAPI
import RMMTransport

/// Operator API calls over one kept-alive HTTP/1.1 connection (plain HTTP, as the bench's server
/// runs), the way a dashboard or an integration holds its connection: the round trip then measures
/// the server's work, not a TCP handshake and a name lookup per request.
struct KeepAliveAPI {
    private let token: String
    private let host: String
    private var inbound: NIOAsyncChannelInboundStream<HTTPClientResponsePart>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>

    /// Opens a connection to `base`, runs `body` with it, and closes it.
    static func with<T: Sendable>(_ base: URL, token: String, _ body: (inout KeepAliveAPI) async throws -> T) async throws -> T {
        guard base.scheme == "http", let host = base.host, let port = base.port else {
            throw BenchError("the kept-alive API client needs a plain http://host:port URL, not \(base.absoluteString)")
        }
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            var api = KeepAliveAPI(token: token, host: "\(host):\(port)", inbound: inbound.makeAsyncIterator(), outbound: outbound)
            return try await body(&api)
        }
    }

    mutating func post<T: Decodable, B: Encodable>(_ path: String, body: B, as type: T.Type = T.self) async throws -> T {
        try await call(.POST, path, body: try APICoding.encoder().encode(body))
    }

    mutating func get<T: Decodable>(_ path: String, as type: T.Type = T.self) async throws -> T {
        try await call(.GET, path, body: nil)
    }

    private mutating func call<T: Decodable>(_ method: HTTPMethod, _ path: String, body: Data?) async throws -> T {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: host)
        headers.add(name: "Authorization", value: "Bearer \(token)")
        headers.add(name: "Content-Length", value: String(body?.count ?? 0))
        if body != nil { headers.add(name: "Content-Type", value: "application/json") }
        try await outbound.write(contentsOf: HTTPExchange.requestParts(method, path: path, headers: headers, body: body))
        guard let reply = try await HTTPExchange.readReply(from: &inbound, maxBody: 64 << 20, origin: host) else {
            throw BenchError("\(method) \(path): the server closed the kept-alive connection")
        }
        guard (200..<300).contains(reply.status) else {
            throw BenchError("\(method) \(path): HTTP \(reply.status): \(String(decoding: reply.body.prefix(300), as: UTF8.self))")
        }
        return try APICoding.decoder().decode(T.self, from: reply.body)
    }
}
