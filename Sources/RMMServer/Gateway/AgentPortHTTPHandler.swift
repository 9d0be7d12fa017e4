import Foundation
import Logging
import NIOCore
import NIOHTTP1
import RMMProtocol
import RMMTransport

/// What an agent asked for in its upgrade URL (`/agent?downlink=poll`; grammar in `UpgradeQuery`).
struct AgentUpgradeRequest: Sendable {
    var path: String
    var downlink: DownlinkMode
    /// The TCP MSS the agent clamped its connection to, if it did.
    var mss: Int?

    init(uri: String) {
        let (path, query) = UpgradeQuery.parse(uri: uri)
        self.path = path
        downlink = query.downlink
        mss = query.mss
    }
}

/// Plain HTTP on the agent port: the long-poll downlink (`GET /agent/downlink/ID?after=N&wait=S`),
/// and a short explanation for anything else. One request per connection. A poll whose
/// connection another node holds is forwarded to that node and its answer relayed
/// (`PollRoute`); a poll another node forwarded here is served here or answered 410.
final class AgentPortHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let downlinks: DownlinkQueues
    private let forwarding: PollForwarding
    private let logger: Logger
    private var head: HTTPRequestHead?

    init(downlinks: DownlinkQueues, forwarding: PollForwarding, logger: Logger) {
        self.downlinks = downlinks
        self.forwarding = forwarding
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body: break
        case .end:
            guard let head else { return }
            // The request is complete: the connection guard's request deadline no longer applies.
            let connectionGuard = try? context.pipeline.syncOperations.handler(type: AgentConnectionGuard.self)
            // A refused X-Forwarded-For: the guard has answered.
            if connectionGuard?.headersRead(head.headers, channel: context.channel) != nil { return }
            let slot = try? connectionGuard?.requestComplete()
            serve(context: context, head: head, slot: slot)
        }
    }

    private func serve(context: ChannelHandlerContext, head: HTTPRequestHead, slot: ConnectionSlot?) {
        let components = URLComponents(string: head.uri)
        let path = components?.path ?? head.uri
        guard head.method == .GET, let id = DownlinkPollQuery.connectionId(path: path) else {
            respond(context: context, status: .badRequest, body: Data("This is the GuruRMM agent port: agents connect with a WebSocket upgrade on /agent. Operators use the API port.\n".utf8))
            return
        }
        // Every number is checked before it is used: this is reachable before authentication.
        let poll: DownlinkPollQuery
        do {
            poll = try DownlinkPollQuery(parameters: (components?.queryItems ?? []).map { ($0.name, $0.value) })
        } catch {
            respond(context: context, status: .badRequest, body: Data("\(error)\n".utf8))
            return
        }
        let client = (try? context.pipeline.syncOperations.handler(type: AgentConnectionGuard.self))?.client(of: context.channel)?.peerDescription ?? "unknown"
        let proofs = head.headers[PollForwardProof.header]
        let forwarded = !proofs.isEmpty
        if forwarded {
            let opened = proofs.count == 1 ? forwarding.forwarder.proof.open(proofs[0], uri: head.uri, now: Date()) : .failure(.malformed)
            switch opened {
            case .success(let agent):
                // The forwarding node counts the agent's connection under the agent's address
                // for the poll's whole life; counting it here too, under the node's, would make
                // every agent behind that node share one address's allowance.
                slot?.release()
                logger.debug("long-poll of agent \(agent) forwarded by node at \(client)")
            case .failure(let refusal):
                // Anyone can send a bad header, as fast as it likes: not a line per request at notice.
                logger.debug("refused a long-poll from \(client): \(refusal)")
                respond(context: context, status: .forbidden, body: Data("\(refusal)\n".utf8))
                return
            }
        }
        route(context: context, id: id, poll: poll, client: client, forwarded: forwarded, lookedUp: false, slot: slot)
    }

    private func route(context: ChannelHandlerContext, id: String, poll: DownlinkPollQuery, client: String,
                       forwarded: Bool, lookedUp: Bool, slot: ConnectionSlot?) {
        let decision = PollRoute.decide(id: id, ownTag: forwarding.ownTag, forwarded: forwarded, peers: forwarding.peers.current, lookedUp: lookedUp)
        let loop = context.eventLoop
        let bound = NIOLoopBound((self, context), eventLoop: loop)
        switch decision {
        case .local:
            serveLocally(context: context, id: id, poll: poll, slot: slot)
        case .gone(let why):
            respond(context: context, status: .gone, body: Data("\(why)\n".utf8))
        case .lookUp:
            let peers = forwarding.peers
            Task {
                await peers.lookUp()
                loop.execute {
                    let (handler, context) = bound.value
                    handler.route(context: context, id: id, poll: poll, client: client, forwarded: forwarded, lookedUp: true, slot: slot)
                }
            }
        case .forward(let peerURL):
            let forwarder = forwarding.forwarder
            let logger = logger
            // The request goes on rebuilt from its checked parts (the id is one `PollRoute` could
            // read a tag from), never as the bytes the client sent.
            let uri = poll.uri(connectionId: id)
            Task {
                let relay = await forwarder.forward(uri: uri, wait: poll.wait, client: client, to: peerURL, now: Date())
                if relay.status == .badGateway { logger.debug("long-poll of agent \(client) for \(peerURL): \(LogSafe.text(String(decoding: relay.body, as: UTF8.self), limit: 200))") }
                loop.execute {
                    let (handler, context) = bound.value
                    handler.respond(context: context, status: relay.status, body: relay.body)
                }
            }
        }
    }

    private func serveLocally(context: ChannelHandlerContext, id: String, poll: DownlinkPollQuery, slot: ConnectionSlot?) {
        let after = poll.after
        guard let queue = downlinks.queue(for: id), !queue.isClosed else {
            respond(context: context, status: .gone, body: Data("unknown or closed connection\n".utf8))
            return
        }
        // Acknowledging frames that were never queued would drop the next ones unseen.
        guard after <= queue.lastIndex else {
            respond(context: context, status: .badRequest, body: Data("after must not exceed the last frame queued (\(queue.lastIndex))\n".utf8))
            return
        }
        // A poll for an authenticated agent's connection is that agent's, not an unauthenticated one.
        if queue.isOwnerAuthenticated { slot?.release() }
        let loop = context.eventLoop
        let bound = NIOLoopBound((self, context), eventLoop: loop)
        queue.wait(after: after, on: loop, timeout: .milliseconds(Int64(poll.wait * 1000))).whenComplete { _ in
            let (handler, context) = bound.value
            if queue.isClosed && queue.frames(after: after).isEmpty {
                handler.respond(context: context, status: .gone, body: Data("connection closed\n".utf8))
            } else {
                handler.respond(context: context, status: .ok, body: DownlinkPollBody.encode(queue.frames(after: after)))
            }
        }
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
