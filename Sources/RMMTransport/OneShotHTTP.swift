import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// An HTTP response read in full.
public struct HTTPReply: Sendable {
    public var status: Int
    public var body: Data
    /// The response's headers (a login's `Set-Cookie`, say).
    public var headers = HTTPHeaders()
}

/// One HTTP/1.1 request on its own connection, with the same TLS trust as the agent's WebSocket
/// (pinned key or system CAs). Used by the long-poll downlink and the CLI; Foundation's URLSession
/// cannot pin a key on Linux.
public enum OneShotHTTP {
    /// Sends the request and reads the whole response (up to `maxBody` bytes) before `timeout`.
    public static func request(
        _ method: HTTPMethod, host: String, port: Int, path: String, tls: TLSTrust?,
        headers extra: [(String, String)] = [], body: Data? = nil,
        timeout: TimeAmount = .seconds(30), maxBody: Int = 64 << 20,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> HTTPReply {
        do {
            return try await send(method, host: host, port: port, path: path, tls: tls, headers: extra, body: body, timeout: timeout, maxBody: maxBody, group: group)
        } catch let error as HTTPFetchError {
            throw error
        } catch {
            throw HTTPFetchError("\(host):\(port): " + TLSFailure.explain(error, trust: tls))
        }
    }

    private static func send(
        _ method: HTTPMethod, host: String, port: Int, path: String, tls: TLSTrust?,
        headers extra: [(String, String)], body: Data?, timeout: TimeAmount, maxBody: Int, group: any EventLoopGroup
    ) async throws -> HTTPReply {
        let channel = try await HTTPExchange.connect(host: host, port: port, tls: tls, connectTimeout: timeout, group: group)
        let deadline = channel.channel.eventLoop.scheduleTask(in: timeout) { channel.channel.close(promise: nil) }
        defer { deadline.cancel() }
        let headers = HTTPExchange.singleRequestHeaders(host: host, port: port, bodyCount: body?.count ?? 0, extra: extra)
        return try await channel.executeThenClose { inbound, outbound in
            var responses = inbound.makeAsyncIterator()
            try await HTTPExchange.write(HTTPExchange.requestParts(method, path: path, headers: headers, body: body), to: outbound, reasonFrom: &responses)
            if let reply = try await HTTPExchange.readReply(from: &responses, maxBody: maxBody, origin: "\(host):\(port)") { return reply }
            throw HTTPFetchError("\(host):\(port) closed the connection before a full response (timeout \(timeout.nanoseconds / 1_000_000_000) s?)")
        }
    }
}

/// Why an HTTP request failed, in words.
public struct HTTPFetchError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
