import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// An HTTP response read in full.
public struct HTTPReply: Sendable {
    public var status: Int
    public var body: Data
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
        let channel = try await ClientBootstrap(group: group)
            .connectTimeout(min(timeout, .seconds(10)))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(try tls.makeClientHandler(host: host)) }
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                }
            }
        let deadline = channel.channel.eventLoop.scheduleTask(in: timeout) { channel.channel.close(promise: nil) }
        defer { deadline.cancel() }
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "\(host):\(port)")
        headers.add(name: "Connection", value: "close")
        headers.add(name: "Content-Length", value: String(body?.count ?? 0))
        for (name, value) in extra { headers.add(name: name, value: value) }
        return try await channel.executeThenClose { inbound, outbound in
            var responses = inbound.makeAsyncIterator()
            do {
                try await outbound.write(contentsOf: HTTPExchange.requestParts(method, path: path, headers: headers, body: body))
            } catch {
                // A failed TLS handshake (a wrong pin, say) closes the channel, and a write racing it
                // fails only with "I/O on closed channel": the reason is on the inbound side.
                _ = try await responses.next()
                throw error
            }
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
