import Foundation
import NIOCore
import NIOHTTP1

/// One HTTP/1.1 request and its response on a client channel: shared by the one-shot client and
/// by callers that keep a connection for many requests.
public enum HTTPExchange {
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
        var collected = ByteBuffer()
        while let part = try await inbound.next() {
            switch part {
            case .head(let head): status = Int(head.status.code)
            case .body(var chunk):
                guard collected.readableBytes + chunk.readableBytes <= maxBody else {
                    throw HTTPFetchError("response from \(origin) is larger than \(maxBody) bytes")
                }
                collected.writeBuffer(&chunk)
            case .end: return HTTPReply(status: status, body: Data(collected.readableBytesView))
            }
        }
        return nil
    }
}
