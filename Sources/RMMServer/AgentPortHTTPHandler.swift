import Foundation
import NIOCore
import NIOHTTP1
import RMMProtocol
import RMMTransport

/// What an agent asked for in its upgrade URL (`/agent?downlink=poll`).
struct AgentUpgradeRequest: Sendable {
    var path: String
    var downlink: DownlinkMode
    /// The TCP MSS the agent clamped its connection to, if it did.
    var mss: Int?

    init(uri: String) {
        let parts = uri.split(separator: "?", maxSplits: 1)
        path = parts.first.map(String.init) ?? uri
        downlink = .text
        if parts.count == 2 {
            for pair in parts[1].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1)
                if kv.count == 2, kv[0] == "downlink", let mode = DownlinkMode(rawValue: String(kv[1])) { downlink = mode }
                if kv.count == 2, kv[0] == "mss", let value = Int(kv[1]), (500...9000).contains(value) { mss = value }
            }
        }
    }
}

/// Plain HTTP on the agent port: the long-poll downlink (`GET /agent/downlink/ID?after=N&wait=S`),
/// and a short explanation for anything else. One request per connection.
final class AgentPortHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let downlinks: DownlinkQueues
    private var head: HTTPRequestHead?

    init(downlinks: DownlinkQueues) {
        self.downlinks = downlinks
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body: break
        case .end:
            guard let head else { return }
            // The request is complete: the connection guard's request deadline no longer applies.
            let slot = try? context.pipeline.syncOperations.handler(type: AgentConnectionGuard.self).requestComplete()
            serve(context: context, head: head, slot: slot)
        }
    }

    private func serve(context: ChannelHandlerContext, head: HTTPRequestHead, slot: ConnectionSlot?) {
        let components = URLComponents(string: head.uri)
        let path = components?.path ?? head.uri
        let prefix = "/agent/downlink/"
        guard head.method == .GET, path.hasPrefix(prefix) else {
            respond(context: context, status: .badRequest, body: Data("This is the GuruRMM agent port: agents connect with a WebSocket upgrade on /agent. Operators use the API port.\n".utf8))
            return
        }
        let id = String(path.dropFirst(prefix.count))
        let query = components?.queryItems ?? []
        let after = query.first { $0.name == "after" }?.value.flatMap(Int.init) ?? 0
        let wait = Self.pollWait(query.first { $0.name == "wait" }?.value)
        guard let queue = downlinks.queue(for: id), !queue.isClosed else {
            respond(context: context, status: .gone, body: Data("unknown or closed connection\n".utf8))
            return
        }
        // A poll for an authenticated agent's connection is that agent's, not an unauthenticated one.
        if queue.isOwnerAuthenticated { slot?.release() }
        let loop = context.eventLoop
        let bound = NIOLoopBound((self, context), eventLoop: loop)
        queue.wait(after: after, on: loop, timeout: .milliseconds(Int64(wait * 1000))).whenComplete { _ in
            let (handler, context) = bound.value
            if queue.isClosed && queue.frames(after: after).isEmpty {
                handler.respond(context: context, status: .gone, body: Data("connection closed\n".utf8))
            } else {
                handler.respond(context: context, status: .ok, body: DownlinkQueues.encode(queue.frames(after: after)))
            }
        }
    }

    /// Seconds a poll may wait, from its `wait` parameter: 0…30, 20 when absent or not a finite
    /// number (NaN would pass `min`/`max` unchanged and trap when converted to an integer).
    static func pollWait(_ text: String?) -> Double {
        guard let asked = text.flatMap(Double.init), asked.isFinite else { return 20 }
        return min(max(asked, 0), 30)
    }

    private func respond(context: ChannelHandlerContext, status: HTTPResponseStatus, body: Data) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: status == .ok ? "application/octet-stream" : "text/plain; charset=utf-8")
        headers.add(name: "Content-Length", value: "\(body.count)")
        headers.add(name: "Cache-Control", value: "no-store")
        headers.add(name: "Connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        var buffer = context.channel.allocator.buffer(capacity: body.count)
        buffer.writeBytes(body)
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}
