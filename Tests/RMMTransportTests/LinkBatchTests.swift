import Foundation
import NIOCore
import NIOEmbedded
import NIOWebSocket
import RMMProtocol
import RMMTransport
import Synchronization
import Testing

/// `deliverInBatches`: the messages of one socket read reach the owner as one event, in order.
@Suite("Link batches")
struct LinkBatchTests {
    private func frame(_ envelope: Envelope, _ channel: NIOAsyncTestingChannel) throws -> WebSocketFrame {
        WebSocketFrame(fin: true, opcode: .text, data: channel.allocator.buffer(bytes: try WireCodec().encode(envelope)))
    }

    /// A server-side link on a connected test channel.
    private static func serverLink() async throws -> (NIOAsyncTestingChannel, WebSocketLink) {
        let channel = NIOAsyncTestingChannel()
        try await channel.connect(to: SocketAddress(ipAddress: "192.0.2.1", port: 1))
        let link = try await channel.testingEventLoop.executeInContext {
            try WebSocketLink.install(on: channel, isClient: false)
        }
        return (channel, link)
    }

    @Test("after deliverInBatches, one read's messages arrive together; a read with one stays single; the close comes last")
    func oneReadOneEvent() async throws {
        let (channel, link) = try await Self.serverLink()
        var events = link.events.makeAsyncIterator()
        let ack = Envelope(.commandAck(CommandAck(commandId: "c1", duplicate: false)), seq: 1)
        let started = Envelope(.started(CommandStarted(commandId: "c1", pid: 1, time: 1)), seq: 2)
        let result = Envelope(.result(CommandResult(commandId: "c1", status: .succeeded, finishedAt: 2)), seq: 3)

        // Before: one event per message even within one read.
        channel.pipeline.fireChannelRead(try frame(ack, channel))
        channel.pipeline.fireChannelRead(try frame(started, channel))
        channel.pipeline.fireChannelReadComplete()
        await channel.testingEventLoop.run()
        guard case .message(let one)? = await events.next(), case .message(let two)? = await events.next() else {
            Issue.record("expected two single messages")
            return
        }
        #expect([one, two] == [ack, started])

        link.deliverInBatches()
        channel.pipeline.fireChannelRead(try frame(ack, channel))
        channel.pipeline.fireChannelRead(try frame(started, channel))
        channel.pipeline.fireChannelRead(try frame(result, channel))
        channel.pipeline.fireChannelReadComplete()
        channel.pipeline.fireChannelRead(try frame(result, channel))
        channel.pipeline.fireChannelReadComplete()
        // A message read just before the connection ends is handed over before the close.
        channel.pipeline.fireChannelRead(try frame(ack, channel))
        channel.pipeline.fireChannelInactive()
        await channel.testingEventLoop.run()
        guard case .messages(let batch)? = await events.next() else {
            Issue.record("expected one batch")
            return
        }
        #expect(batch == [ack, started, result])
        guard case .message(let single)? = await events.next() else {
            Issue.record("expected a single message")
            return
        }
        #expect(single == result)
        guard case .message(let last)? = await events.next(), case .closed? = await events.next() else {
            Issue.record("expected the last message, then the close")
            return
        }
        #expect(last == ack)
        #expect(link.counters.messagesReceived == 7)
        link.markHandled(7)
        #expect(link.counters.messagesHandled == 7)
    }

    @Test("a sideline takes what it wants on the event loop: no event for it, counted received and handled; the rest arrive as before")
    func sidelineTakes() async throws {
        let (channel, link) = try await Self.serverLink()
        var events = link.events.makeAsyncIterator()
        let heartbeat = Envelope(.heartbeat(Heartbeat(id: 7, echo: 3, time: 1)), ack: 2)
        let ack = Envelope(.commandAck(CommandAck(commandId: "c1", duplicate: false)), seq: 1)
        let taken = Mutex<[Envelope]>([])
        link.deliverInBatches { envelope in
            guard case .heartbeat = envelope.message else { return false }
            taken.withLock { $0.append(envelope) }
            return true
        }
        channel.pipeline.fireChannelRead(try frame(heartbeat, channel))
        channel.pipeline.fireChannelRead(try frame(ack, channel))
        channel.pipeline.fireChannelRead(try frame(heartbeat, channel))
        channel.pipeline.fireChannelReadComplete()
        channel.pipeline.fireChannelRead(try frame(heartbeat, channel))
        channel.pipeline.fireChannelReadComplete()
        channel.pipeline.fireChannelInactive()
        await channel.testingEventLoop.run()
        // The read of only a heartbeat produced no event at all: the close comes right after the ack.
        guard case .message(let only)? = await events.next(), case .closed? = await events.next() else {
            Issue.record("expected the ack alone, then the close")
            return
        }
        #expect(only == ack)
        #expect(taken.withLock { $0 } == [heartbeat, heartbeat, heartbeat])
        #expect(link.counters.messagesReceived == 4)
        #expect(link.counters.messagesHandled == 3, "the taken ones count as handled; the ack awaits its owner")
    }
}
