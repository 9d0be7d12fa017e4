import Foundation
import RMMProtocol
import RMMStore
import RMMTransport
import Testing

@testable import RMMServer

/// A session while its database is away: the agent's connection stays open, its reports are kept
/// and acknowledged only once stored, and no command is written whose `sent` is not recorded.
@Suite("Session while the database is away")
struct StoreAwaySessionTests {
    /// The close codes written to `link` since the last drain, and the newest ack it carried.
    func written(_ link: TestLink) async throws -> (closes: [UInt16], lastAck: Int?) {
        let frames = try await link.drain()
        let closes = frames.compactMap { written -> UInt16? in
            if case .close(let code, _) = written { return code }
            return nil
        }
        return (closes, frames.compactMap(\.envelope).last?.ack)
    }

    @Test("reports sent while the database is away are kept, not acknowledged, and stored in order once it is back; the connection stays open")
    func reportsWaitForTheDatabase() async throws {
        let (base, store, agentId, session, link) = try await Fixture.faultySession()
        await session.enqueue(try await Fixture.insert(["c1", "c2"], agent: agentId, into: base))
        _ = try await link.drain()
        store.databaseAway.withLock { $0 = true }
        // Two reads: the first's write fails; the second's messages queue behind the first's.
        await session.handle([
            Envelope(.commandAck(CommandAck(commandId: "c1", duplicate: false)), seq: 1, ack: 2),
            Envelope(.result(CommandResult(commandId: "c1", status: .succeeded, exitCode: 0, finishedAt: 1)), seq: 2),
        ], epoch: 1, now: Fixture.at(1))
        await session.handle([Envelope(.commandAck(CommandAck(commandId: "c2", duplicate: false)), seq: 3)], epoch: 1, now: Fixture.at(1.2))
        await session.tick(now: Fixture.at(1.5))
        await session.tick(now: Fixture.at(20))
        var seen = try await written(link)
        #expect(seen.closes.isEmpty, "the connection stays open")
        #expect((seen.lastAck ?? 0) == 0, "nothing was acknowledged before it was stored")
        #expect(try await base.command(id: "c1")?.state == .sent)
        #expect(link.link.isOpen)

        // Back: the next retry stores all three, in order, and acknowledges them together.
        store.databaseAway.withLock { $0 = false }
        await session.tick(now: Fixture.at(22))
        await session.tick(now: Fixture.at(22.5))
        seen = try await written(link)
        #expect(seen.closes.isEmpty)
        #expect(seen.lastAck == 3)
        #expect(try await base.events(commandId: "c1").map(\.state) == [.queued, .sent, .delivered, .succeeded])
        #expect(try await base.command(id: "c2")?.state == .delivered)
    }

    @Test("while a report write hangs (the database not answering), an unacknowledged command is not taken for a link fault")
    func hungStoreIsNotALinkFault() async throws {
        let (base, store, agentId, session, link) = try await Fixture.faultySession(attachedAt: Date())
        await session.enqueue(try await Fixture.insert(["c1", "c2"], agent: agentId, into: base))
        #expect(try await link.messages().commands.map(\.spec.commandId) == ["c1", "c2"])
        // Both were written (and stamped with the wall clock) before this.
        let writtenBy = Date()
        // The agent's ack of c1 acknowledges only the first message; its write hangs, and with it
        // the reading of what the agent sends next (the ack of c2 waits on the socket).
        store.hangReportWrites.withLock { $0 = 1 }
        let stuck = Task {
            await session.handle([Envelope(.commandAck(CommandAck(commandId: "c1", duplicate: false)), seq: 1, ack: 1)], epoch: 1, now: Date())
        }
        while store.hung.withLock({ $0.isEmpty }) { await Task.yield() }
        // Past the ack deadline of c2, and well inside the data deadline of the frame just read
        // however slowly this test runs (both count from before `writtenBy` or after it).
        await session.tick(now: writtenBy.addingTimeInterval(AgentConfig.defaults.ackDeadline + 1))
        #expect(await session.lastAutoDiagnosisStart == .distantPast)
        #expect(link.link.isOpen)
        store.releaseHungWrites()
        await stuck.value
    }

    @Test("a command whose `sent` cannot be recorded is not written; it is tried again a second later, then written")
    func sendsWaitForTheDatabase() async throws {
        let (base, store, agentId, session, link) = try await Fixture.faultySession(attachedAt: Date())
        store.databaseAway.withLock { $0 = true }
        let records = try await Fixture.insert(["c1"], agent: agentId, into: base)
        // The session stamps its failed attempt with the wall clock, at or after this.
        let failedAt = Date()
        await session.enqueue(records)
        #expect(try await link.messages().commands.isEmpty)
        store.databaseAway.withLock { $0 = false }
        // Within the second the session waits before trying the store again: nothing yet.
        let attempts = store.sentAttempts.withLock { $0.count }
        await session.tick(now: failedAt.addingTimeInterval(0.2))
        #expect(store.sentAttempts.withLock { $0.count } == attempts)
        await session.tick(now: Date().addingTimeInterval(2))
        #expect(try await link.messages().commands.map(\.spec.commandId) == ["c1"])
        #expect(try await base.command(id: "c1")?.state == .sent)
    }

    @Test("a reports write that never returns on one connection does not keep the next connection's reports from being stored")
    func hungReportWriteDoesNotBlockTheNextConnection() async throws {
        let (base, store, agentId, session, link) = try await Fixture.faultySession()
        await session.enqueue(try await Fixture.insert(["c1"], agent: agentId, into: base))
        _ = try await link.drain()
        store.hangReportWrites.withLock { $0 = 1 }
        let stuck = Task {
            await session.handle([Envelope(.commandAck(CommandAck(commandId: "c1", duplicate: false)), seq: 1, ack: 1)], epoch: 1, now: Fixture.at(1))
        }
        while store.hung.withLock({ $0.isEmpty }) { await Task.yield() }
        // The agent gives up on the silent connection and comes back.
        await session.detach(epoch: 1, closure: LinkClosure(code: nil, reason: "gone", byPeer: true), now: Fixture.at(4))
        let second = try await TestLink.make()
        await session.attach(link: second.link, epoch: 2, agentStream: "as", peerSaw: nil, now: Fixture.at(5))
        await session.handle([
            Envelope(.commandAck(CommandAck(commandId: "c1", duplicate: false)), seq: 1, ack: 1),
            Envelope(.result(CommandResult(commandId: "c1", status: .succeeded, exitCode: 0, finishedAt: 1)), seq: 2),
        ], epoch: 2, now: Fixture.at(6))
        await session.tick(now: Fixture.at(8))
        #expect(try await base.command(id: "c1")?.state == .succeeded)
        store.releaseHungWrites()
        await stuck.value
        #expect(try await base.events(commandId: "c1").map(\.state) == [.queued, .sent, .delivered, .succeeded])
    }

    @Test("a move to `sent` that never returns on one connection does not keep the next connection from being sent the command")
    func hungSentMarkDoesNotBlockTheNextConnection() async throws {
        let (base, store, agentId, session, link) = try await Fixture.faultySession()
        store.hangSentMarks.withLock { $0 = 1 }
        let records = try await Fixture.insert(["c1"], agent: agentId, into: base)
        let stuck = Task { await session.enqueue(records) }
        while store.hung.withLock({ $0.isEmpty }) { await Task.yield() }
        #expect(try await link.messages().commands.isEmpty)
        await session.detach(epoch: 1, closure: LinkClosure(code: nil, reason: "gone", byPeer: true), now: Fixture.at(4))
        let second = try await TestLink.make()
        await session.attach(link: second.link, epoch: 2, agentStream: "as", peerSaw: nil, now: Fixture.at(5))
        await session.tick(now: Fixture.at(6))
        #expect(try await second.messages().commands.map(\.spec.commandId) == ["c1"])
        store.releaseHungWrites()
        await stuck.value
        // The old pump wrote nothing on the closed connection and nothing twice on the new one.
        #expect(try await second.messages().commands.isEmpty)
    }
}
