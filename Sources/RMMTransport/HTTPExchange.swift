import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// One HTTP/1.1 request and its response on a client channel: shared by the one-shot client and
/// by callers that keep a connection for many requests.
public enum HTTPExchange {
    /// The client channel of one request: TCP (no Nagle), TLS with `tls`'s trust when given, HTTP/1.1.
    static func connect(
        host: String, port: Int, tls: TLSTrust?, connectTimeout: TimeAmount, group: any EventLoopGroup
    ) async throws -> NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart> {
        try await ClientBootstrap(group: group)
            .connectTimeout(min(connectTimeout, .seconds(10)))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(try tls.makeClientHandler(host: host)) }
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                }
            }
    }

    /// The headers of a request that is alone on its connection: `Host`, `Connection: close`, its
    /// `Content-Length`, then the caller's.
    static func singleRequestHeaders(host: String, port: Int, bodyCount: Int, extra: [(String, String)]) -> HTTPHeaders {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "\(host):\(port)")
        headers.add(name: "Connection", value: "close")
        headers.add(name: "Content-Length", value: String(bodyCount))
        for (name, value) in extra { headers.add(name: name, value: value) }
        return headers
    }

    /// Writes the request. A failed TLS handshake (a wrong pin, say) closes the channel, and a
    /// write racing it fails only with "I/O on closed channel": the reason is on the inbound side,
    /// so it is read from there first.
    static func write(
        _ parts: [HTTPClientRequestPart], to outbound: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>,
        reasonFrom inbound: inout NIOAsyncChannelInboundStream<HTTPClientResponsePart>.AsyncIterator
    ) async throws {
        do {
            try await outbound.write(contentsOf: parts)
        } catch {
            _ = try await inbound.next()
            throw error
        }
    }
    /// The whole request in one write: a server may answer (and close) as soon as it has the head
    /// of a body-less request, and a separate later write of `.end` then fails on a closed channel.
    public static func requestParts(_ method: HTTPMethod, path: String, headers: HTTPHeaders, body: Data?) -> [HTTPClientRequestPart] {
        var parts: [HTTPClientRequestPart] = [.head(HTTPRequestHead(version: .http1_1, method: method, uri: path, headers: headers))]
        if let body, !body.isEmpty { parts.append(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
        parts.append(.end(nil))
        return parts
    }

    /// Reads one whole response (at most `maxBody` bytes of body); nil if the channel ended first.
    /// `origin` names the server in errors.
    public static func readReply(
        from inbound: inout NIOAsyncChannelInboundStream<HTTPClientResponsePart>.AsyncIterator, maxBody: Int, origin: String
    ) async throws -> HTTPReply? {
        var status = 0
        var headers = HTTPHeaders()
        var collected = ByteBuffer()
        while let part = try await inbound.next() {
            switch part {
            case .head(let head):
                status = Int(head.status.code)
                headers = head.headers
            case .body(var chunk):
                guard collected.readableBytes + chunk.readableBytes <= maxBody else {
                    throw HTTPFetchError("response from \(origin) is larger than \(maxBody) bytes")
                }
                collected.writeBuffer(&chunk)
            case .end: return HTTPReply(status: status, body: Data(collected.readableBytesView), headers: headers)
            }
        }
        return nil
    }
}
