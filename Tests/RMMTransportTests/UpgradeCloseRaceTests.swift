import Foundation
import NIOCore
import NIOEmbedded
import RMMProtocol
import Testing

@testable import RMMTransport

/// A server that upgrades and closes at once (how it refuses a rate-limited address): the 101,
/// its close frame and the EOF reach the client in one turn of its event loop, before NIO has
/// finished the upgrade. The client's link must still end, and with the server's code.
@Suite("Transport: upgrade then close at once")
struct UpgradeCloseRaceTests {
    @Test("a 101, a close frame and the EOF in one turn: the link ends with the server's code and reason")
    func closeFrameAndEOFBeforeTheUpgradeCompletes() async throws {
        let channel = NIOAsyncTestingChannel()
        let endpoint = try ServerEndpoint(parsing: "ws://127.0.0.1:7443")
        let upgrade = try await channel.testingEventLoop.executeInContext {
            try WebSocketConnector.configureClientPipeline(on: channel, endpoint: endpoint, tls: nil, path: "/agent")
        }
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 7443))
        var request = ""
        while let part = try await channel.readOutbound(as: IOData.self) {
            if case .byteBuffer(let buffer) = part { request += String(buffer: buffer) }
        }
        let keyLine = try #require(request.split(separator: "\r\n").first { $0.lowercased().hasPrefix("sec-websocket-key:") })
        let key = keyLine.split(separator: ":", maxSplits: 1)[1].trimmingCharacters(in: .whitespaces)
        let reason = Array("slow down".utf8)
        var answer = channel.allocator.buffer(capacity: 256)
        answer.writeString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: \(webSocketAccept(for: key))\r\n\r\n")
        answer.writeBytes([0x88, UInt8(2 + reason.count)])
        answer.writeInteger(CloseCode.rateLimited.rawValue)
        answer.writeBytes(reason)
        let bytes = answer
        try await channel.testingEventLoop.executeInContext {
            channel.pipeline.syncOperations.fireChannelRead(NIOAny(bytes))
            channel.pipeline.syncOperations.fireChannelReadComplete()
            channel.close(promise: nil)
        }
        await channel.testingEventLoop.run()

        guard case .link(let link) = try await upgrade.get() else {
            Issue.record("the upgrade was refused")
            return
        }
        #expect(link.closure == LinkClosure(code: CloseCode.rateLimited.rawValue, reason: "slow down", byPeer: true))
        // Read only what is known to be there: a link that never ended would wait for ever.
        guard link.closure != nil else { return }
        var events = link.events.makeAsyncIterator()
        guard case .closed(let closure)? = await events.next() else {
            Issue.record("the link's events did not end with .closed")
            return
        }
        #expect(closure.code == CloseCode.rateLimited.rawValue)
        #expect(await events.next() == nil)
    }

    @Test("a link installed after its channel went inactive ends as lost instead of waiting for ever")
    func installedAfterInactive() async throws {
        let channel = NIOAsyncTestingChannel()
        try await channel.connect(to: SocketAddress(ipAddress: "192.0.2.1", port: 1))
        // Closed, but the pipeline's teardown is still queued: the window an upgrade can complete in.
        let link = try await channel.testingEventLoop.executeInContext {
            channel.close(promise: nil)
            return try WebSocketLink.install(on: channel, isClient: true)
        }
        await channel.testingEventLoop.run()
        #expect(link.closure == LinkClosure(code: nil, reason: "connection lost", byPeer: true))
        guard link.closure != nil else { return }
        var events = link.events.makeAsyncIterator()
        guard case .closed? = await events.next() else {
            Issue.record("the link's events did not end with .closed")
            return
        }
    }
}
