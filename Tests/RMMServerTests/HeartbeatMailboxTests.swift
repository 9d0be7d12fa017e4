import Foundation
import RMMProtocol
import RMMStore
import RMMTransport
import Testing
@testable import RMMServer

/// Routine heartbeats taken on the event loop: which ones the mailbox takes, and that the session
/// sees everything they said as if it had handled them itself.
@Suite("Heartbeat mailbox")
struct HeartbeatMailboxTests {
    private func heartbeat(_ id: Int, echo: Int?, ack: Int? = nil, metrics: HostMetrics? = nil) -> Envelope {
        Envelope(.heartbeat(Heartbeat(id: id, echo: echo, time: Date().timeIntervalSince1970, metrics: metrics)), ack: ack)
    }

    @Test("takes only heartbeats, only once the session says the downlink is proven, and none acknowledging what the session has not seen acknowledged")
    func whatItTakes() {
        let mailbox = HeartbeatMailbox(firstHeartbeatId: 5)
        #expect(!mailbox.take(heartbeat(1, echo: 5)), "the proof must reach the session itself")
        mailbox.publish(acked: 3, proven: true)
        #expect(mailbox.take(heartbeat(2, echo: 5, ack: 3)))
        #expect(mailbox.take(heartbeat(3, echo: 6)))
        #expect(!mailbox.take(heartbeat(4, echo: 6, ack: 4)), "acknowledges seq 4, which the session has not seen")
        #expect(!mailbox.take(Envelope(.commandAck(CommandAck(commandId: "c1", duplicate: false)), seq: 1)))
        #expect(!mailbox.take(Envelope(.linkReport(LinkReport(side: LinkSideReport(counters: LinkCounters(), tcp: nil, queuedBytes: nil, downlinkMode: .text, time: 0),
                                                              reconnects: [], agentFinding: nil, consumerStalledSeconds: 0)))))
    }

    @Test("the newest heartbeat wins; metrics stay until newer ones come; taking the pending empties the mailbox")
    func pending() throws {
        let mailbox = HeartbeatMailbox(firstHeartbeatId: 5)
        mailbox.publish(acked: 0, proven: true)
        #expect(mailbox.takePending() == nil)
        let metrics = HostMetrics(cpuPercent: 12)
        #expect(mailbox.take(heartbeat(8, echo: 4, metrics: metrics)))
        #expect(mailbox.take(heartbeat(9, echo: nil)))
        let first = try #require(mailbox.takePending())
        #expect(first.peerHeartbeatId == 9)
        #expect(first.metrics == metrics)
        #expect(first.provenAt == nil, "echo 4 is from before this connection")
        #expect(mailbox.takePending() == nil)
        #expect(mailbox.take(heartbeat(10, echo: 5)))
        #expect(try #require(mailbox.takePending()).provenAt != nil)
    }

    @Test("the session sees what taken heartbeats said: last seen, downlink proof, metrics, and echoes the newest id")
    func sessionAbsorbs() async throws {
        let (store, agentId, start, _, session, link) = try await SessionClockTests.attached()
        let welcome = try #require(try await link.messages().welcome)
        let mailbox = try #require(await session.connection?.heartbeats)

        // The first proof goes to the session itself, which then lets the link take routine ones.
        #expect(!mailbox.take(heartbeat(1, echo: welcome.heartbeatId)))
        await session.handle(heartbeat(1, echo: welcome.heartbeatId), epoch: 1, now: start.addingTimeInterval(1))
        let proven = try #require(await session.snapshot().lastDownlinkAt)

        let metrics = HostMetrics(cpuPercent: 42, uptimeSeconds: 100)
        #expect(mailbox.take(heartbeat(2, echo: welcome.heartbeatId, metrics: metrics)))
        #expect(mailbox.take(heartbeat(3, echo: welcome.heartbeatId)))
        let snapshot = await session.snapshot()
        #expect(snapshot.metrics == metrics)
        #expect(try #require(snapshot.lastDownlinkAt) >= proven)
        #expect(try #require(snapshot.lastSeenAt) >= proven)

        // The next heartbeat the server sends echoes the newest one taken.
        #expect(mailbox.take(heartbeat(4, echo: welcome.heartbeatId)))
        _ = await session.wake(now: start.addingTimeInterval(AgentConfig.defaults.heartbeatInterval + 0.5))
        let sent = try await link.messages().compactMap { envelope -> Heartbeat? in
            if case .heartbeat(let beat) = envelope.message { return beat } else { return nil }
        }
        #expect(sent.last?.echo == 4)

        // Taken just before the connection ends: still in the liveness written at detach.
        let later = HostMetrics(cpuPercent: 7)
        #expect(mailbox.take(heartbeat(5, echo: welcome.heartbeatId, metrics: later)))
        await session.detach(epoch: 1, closure: LinkClosure(code: 1000, reason: "bye", byPeer: true), now: start.addingTimeInterval(20))
        #expect(try await store.agent(id: agentId)?.metrics == later)
    }
}
