import Foundation
import RMMProtocol
import RMMStore
import RMMTransport
import Testing
@testable import RMMServer

/// The session side of the clock: a session files itself under its next duty, and events that
/// used to wait for "the next tick" (an owed ack, a pump the store refused) wake it at the next one.
/// The clock is driven with explicit times; only the session's own stamps use the wall clock.
@Suite("SessionClock")
struct SessionClockTests {
    static func session(agentId: String, store: any SessionStore, clock: SessionClock) -> AgentSession {
        AgentSession(agentId: agentId, store: store, feed: ChangeFeed(), settings: ServerSettings(), config: .defaults,
                     signer: Fixture.signer, logger: Fixture.quietLogger, clock: clock)
    }

    /// A fresh store with one agent, and that agent's session attached at `start` on a test link,
    /// filed in its own clock.
    static func attached() async throws -> (store: SQLiteStore, agentId: String, start: Date, clock: SessionClock, session: AgentSession, link: TestLink) {
        let (store, agents) = try await Fixture.store()
        let start = Date()
        let clock = SessionClock(interval: 0.5, now: start)
        let session = session(agentId: agents[0].id, store: store, clock: clock)
        let link = try await TestLink.make()
        await session.attach(link: link.link, epoch: 1, agentStream: "as", peerSaw: nil, now: start)
        return (store, agents[0].id, start, clock, session, link)
    }

    @Test("an attached session is woken for its first liveness flush, then not again until its heartbeat is due")
    func attachedSessionWakesOnlyWhenDue() async throws {
        let (_, _, start, clock, session, link) = try await Self.attached()
        #expect(clock.isScheduled(session))
        _ = try await link.drain()

        // Its first flush is due at once (it has never written its liveness).
        let first = clock.popDue(now: start.addingTimeInterval(0.5))
        #expect(first.count == 1)
        #expect(await session.wake(now: start.addingTimeInterval(0.5))?.connectedSince == start)
        #expect(clock.isScheduled(session))
        // Nothing is due before the heartbeat interval: no wake, nothing written.
        #expect(clock.popDue(now: start.addingTimeInterval(AgentConfig.defaults.heartbeatInterval - 1)).isEmpty)
        #expect(try await link.messages().isEmpty)
        // At the heartbeat interval it is woken, sends a heartbeat (no ping: that is due at the
        // ping interval, a minute by default; see SessionTimersTests), and files itself again.
        let beatAt = start.addingTimeInterval(AgentConfig.defaults.heartbeatInterval + 0.5)
        #expect(clock.popDue(now: beatAt).count == 1)
        #expect(await session.wake(now: beatAt) == nil)  // the flush is not due again yet
        let written = try await link.drain()
        #expect(written.contains { $0.envelope?.message.type == "heartbeat" })
        #expect(!written.contains(.ping))
        #expect(clock.isScheduled(session))
    }

    @Test("a reliable message from the agent wakes the session at the next tick, which acknowledges it")
    func ackDirtyWakesWithinOneTick() async throws {
        let (_, _, start, clock, session, link) = try await Self.attached()
        for due in clock.popDue(now: start.addingTimeInterval(0.5)) { _ = await due.wake(now: start.addingTimeInterval(0.5)) }
        _ = try await link.drain()
        // Filed under its heartbeat, 15 s away.
        #expect(clock.popDue(now: start.addingTimeInterval(5)).isEmpty)

        // A message about a command this server does not know is consumed, so it is owed an ack.
        let message = Message.commandAck(CommandAck(commandId: "c_unknown", duplicate: false))
        await session.handle(Envelope(message, seq: 1), epoch: 1, now: start.addingTimeInterval(5.1))
        let nextTick = start.addingTimeInterval(5.5)
        let due = clock.popDue(now: nextTick)
        #expect(due.count == 1)
        _ = await session.wake(now: nextTick)
        let beat = try await link.messages().last
        #expect(beat?.message.type == "heartbeat")
        #expect(beat?.ack == 1)
    }

    @Test("a pump the store refused is retried at the next tick")
    func refusedPumpRetriesAtNextTick() async throws {
        let (base, agents) = try await Fixture.store()
        let store = FaultyStore(base: base)
        let agentId = agents[0].id
        let start = Date()
        let clock = SessionClock(interval: 0.5, now: start)
        let session = Self.session(agentId: agentId, store: store, clock: clock)
        let link = try await TestLink.make()
        await session.attach(link: link.link, epoch: 1, agentStream: "as", peerSaw: nil, now: start)
        for due in clock.popDue(now: start.addingTimeInterval(0.5)) { _ = await due.wake(now: start.addingTimeInterval(0.5)) }
        _ = try await link.drain()

        store.failSentTransitions.withLock { $0 = 1 }
        await session.enqueue(try await Fixture.insert(["c1"], agent: agentId, into: base))
        #expect(try await link.messages().commands.isEmpty)
        // The next tick: one interval after the last one (at 0.5 s) or after the failure (stamped
        // with the wall clock), whichever is later.
        let nextTick = max(Date(), start.addingTimeInterval(0.5)).addingTimeInterval(0.5)
        #expect(clock.popDue(now: nextTick).count == 1)
        _ = await session.wake(now: nextTick)
        #expect(try await link.messages().commands.map(\.spec.commandId) == ["c1"])
        #expect(try await base.command(id: "c1")?.state == .sent)
    }

    @Test("a written command wakes the session at its ack deadline, which retransmits it")
    func retransmissionIsScheduled() async throws {
        // Every other duty (heartbeat, ping, inbound deadline, liveness flush) an hour away, so
        // the retransmission is the only thing that can be due however slow the machine is: the
        // session stamps the write with the wall clock, not with the times this test passes in.
        var config = AgentConfig.defaults
        config.heartbeatInterval = 3600
        config.heartbeatDeadline = 7200
        config.pingInterval = 3600
        var settings = ServerSettings()
        settings.livenessFlushInterval = 3600
        let (store, agents) = try await Fixture.store()
        let agentId = agents[0].id
        let start = Date()
        let clock = SessionClock(interval: 0.5, now: start)
        let session = AgentSession(agentId: agentId, store: store, feed: ChangeFeed(), settings: settings, config: config,
                                   signer: Fixture.signer, logger: Fixture.quietLogger, clock: clock)
        let link = try await TestLink.make()
        await session.attach(link: link.link, epoch: 1, agentStream: "as", peerSaw: nil, now: start)
        for due in clock.popDue(now: start.addingTimeInterval(0.5)) { _ = await due.wake(now: start.addingTimeInterval(0.5)) }
        let records = try await Fixture.insert(["c1"], agent: agentId, into: store)
        // The session stamps the write somewhere between these two.
        let before = Date()
        await session.enqueue(records)
        let after = Date()
        #expect(try await link.messages().commands.map(\.seq) == [1])

        #expect(clock.popDue(now: before.addingTimeInterval(config.ackDeadline - 0.5)).isEmpty)
        let retransmitAt = after.addingTimeInterval(config.ackDeadline + 0.5)
        #expect(clock.popDue(now: retransmitAt).count == 1)
        _ = await session.wake(now: retransmitAt)
        #expect(try await link.messages().commands.map(\.seq) == [1])
    }

    @Test("a detached session drops out of the clock at its next wake; a new attach files it again")
    func detachedSessionDropsOut() async throws {
        let (_, _, start, clock, session, _) = try await Self.attached()
        await session.detach(epoch: 1, closure: LinkClosure(code: 1000, reason: "bye", byPeer: true), now: start)
        for due in clock.popDue(now: start.addingTimeInterval(0.5)) { _ = await due.wake(now: start.addingTimeInterval(0.5)) }
        #expect(!clock.isScheduled(session))
        #expect(clock.popDue(now: start.addingTimeInterval(3600)).isEmpty)

        let again = try await TestLink.make()
        await session.attach(link: again.link, epoch: 2, agentStream: "as", peerSaw: nil, now: Date())
        #expect(clock.isScheduled(session))
    }

    @Test("the ticker wakes only due sessions and writes their liveness in one batch")
    func tickerWakesDueSessionsAndBatchesLiveness() async throws {
        let (store, agents) = try await Fixture.store(agents: ["web-1", "web-2", "web-3"])
        let start = Date()
        let clock = SessionClock(interval: 0.5, now: start)
        let feed = ChangeFeed()
        let settings = ServerSettings()
        let registry = SessionRegistry(store: store, feed: feed, settings: settings, config: .defaults, signer: Fixture.signer,
                                       logger: Fixture.quietLogger, clock: clock)
        let commands = CommandService(store: store, registry: registry, feed: feed, settings: settings, logger: Fixture.quietLogger)
        let ticker = SessionTicker(clock: clock, store: store, commands: commands, settings: settings, logger: Fixture.quietLogger)
        // Two agents connect; the third only has a session (as when work is queued for it).
        for (i, agent) in agents.prefix(2).enumerated() {
            let link = try await TestLink.make(port: 50_000 + i)
            await registry.session(for: agent.id).attach(link: link.link, epoch: 1, agentStream: "as", peerSaw: nil, now: start)
        }
        _ = await registry.session(for: agents[2].id)
        let before = store.commitCounts

        #expect(await ticker.tick(now: start.addingTimeInterval(0.5)) == 2)
        // Both flushes went out in one write.
        #expect(store.commitCounts.writes == before.writes + 1)
        for agent in agents.prefix(2) { #expect(try await store.agent(id: agent.id)?.connectedSince == start) }
        #expect(try await store.agent(id: agents[2].id)?.connectedSince == nil)
        // Until the heartbeat interval nobody is due.
        #expect(await ticker.tick(now: start.addingTimeInterval(5)) == 0)
        #expect(await ticker.tick(now: start.addingTimeInterval(AgentConfig.defaults.heartbeatInterval + 0.5)) == 2)
    }
}
