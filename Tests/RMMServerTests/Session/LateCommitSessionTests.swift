import Foundation
import RMMProtocol
import RMMStore
import RMMTransport
import Testing

@testable import RMMServer

/// A store write that took effect but answered `unavailable` (past its deadline, or its COMMIT's
/// answer lost): the session treats it as "maybe", never as "not done" — nothing is acknowledged
/// or written before a retry returns, the retry changes nothing twice, and what changed is announced.
@Suite("Session after a write whose outcome was unknown")
struct LateCommitSessionTests {
    @Test("reports stored though the write answered unavailable: acknowledged only after the retry, applied once, and the long-polls woken")
    func reportsCommittedLate() async throws {
        let feed = ChangeFeed()
        let (base, store, agentId, session, link) = try await Fixture.faultySession(feed: feed)
        await session.enqueue(try await Fixture.insert(["c1"], agent: agentId, into: base))
        _ = try await link.drain()
        store.commitThenFailReportWrites.withLock { $0 = 1 }
        await session.handle([
            Envelope(.commandAck(CommandAck(commandId: "c1", duplicate: false)), seq: 1, ack: 1),
            Envelope(.result(CommandResult(commandId: "c1", status: .succeeded, exitCode: 0, finishedAt: 1)), seq: 2),
        ], epoch: 1, now: Fixture.at(1))
        await session.tick(now: Fixture.at(1.5))
        let early = try await link.drain()
        #expect(early.compactMap(\.envelope).compactMap(\.ack).allSatisfy { $0 == 0 }, "nothing acknowledged before a write returned")
        #expect(try await base.command(id: "c1")?.state == .succeeded, "the write took effect")
        let bumpsBefore = feed.current

        await session.tick(now: Fixture.at(3))
        await session.tick(now: Fixture.at(3.5))
        let frames = try await link.drain()
        #expect(!frames.contains { if case .close = $0 { return true } else { return false } }, "the connection stays open")
        #expect(frames.compactMap(\.envelope).last?.ack == 2)
        #expect(try await base.events(commandId: "c1").map(\.state) == [.queued, .sent, .delivered, .succeeded])
        #expect(feed.current > bumpsBefore, "the retry found nothing to change, but what the first write changed must wake the long-polls")
    }

    @Test("a move to `sent` stored though it answered unavailable: the command is not written then; the retry records it again and writes it once")
    func sentMarkCommittedLate() async throws {
        let (base, store, agentId, session, link) = try await Fixture.faultySession(attachedAt: Date())
        store.commitThenFailSentMarks.withLock { $0 = 1 }
        await session.enqueue(try await Fixture.insert(["c1"], agent: agentId, into: base))
        #expect(try await link.messages().commands.isEmpty, "never written on an unconfirmed `sent`")
        #expect(try await base.command(id: "c1")?.state == .sent, "the move took effect")

        await session.tick(now: Date().addingTimeInterval(2))
        #expect(try await link.messages().commands.map(\.spec.commandId) == ["c1"])
        await session.tick(now: Date().addingTimeInterval(3))
        #expect(try await link.messages().commands.isEmpty, "written once")
        #expect(try await base.events(commandId: "c1").map(\.state) == [.queued, .sent, .sent])
    }
}
