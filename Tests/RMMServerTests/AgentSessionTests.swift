import Foundation
import RMMProtocol
import RMMStore
import RMMTransport
import Testing
@testable import RMMServer

@Suite("AgentSession")
struct AgentSessionTests {
    let t0 = Fixture.t0

    // MARK: attach / supersede (DESIGN principle 4, H6)

    @Test("attach writes welcome (epoch, stream, config, heartbeat id) and a ping")
    func attachWelcomes() async throws {
        let (store, agents) = try await Fixture.store()
        let session = Fixture.session(agentId: agents[0].id, store: store)
        let link = try await TestLink.make()
        await session.attach(link: link.link, epoch: 1, agentStream: "agent-s1", peerSaw: nil, now: t0)
        let written = try await link.drain()
        #expect(written.count == 2)
        let welcome = try #require(written.compactMap(\.envelope).welcome)
        #expect(welcome.agentId == agents[0].id)
        #expect(welcome.epoch == 1)
        #expect(welcome.received == StreamPosition(stream: "agent-s1", seq: 0))
        #expect(welcome.config == .defaults)
        #expect(written.contains(.ping))
        #expect(written.first?.envelope?.seq == nil)  // welcome is not a reliable message
        let snap = await session.snapshot()
        #expect(snap.connected && snap.epoch == 1)
        #expect(snap.remoteAddress == "192.0.2.1:50000")
    }

    @Test("a newer epoch supersedes the old link; the old epoch's late detach cannot unregister it")
    func supersede() async throws {
        let (store, agents) = try await Fixture.store()
        let agentId = agents[0].id
        let session = Fixture.session(agentId: agentId, store: store)
        let l1 = try await TestLink.make(port: 1)
        let l2 = try await TestLink.make(port: 2)

        await session.attach(link: l1.link, epoch: 1, agentStream: "as", peerSaw: nil, now: t0)
        _ = try await l1.drain()
        await session.attach(link: l2.link, epoch: 2, agentStream: "as", peerSaw: nil, now: Fixture.at(1))
        // The epoch-1 link is told why, with the superseded close code.
        let old = try await l1.drain()
        let close = try #require(old.first { if case .close = $0 { return true } else { return false } })
        guard case .close(let code, let reason) = close else { return }
        #expect(code == CloseCode.superseded.rawValue)
        #expect(code == 4002)
        #expect(reason.contains("epoch 2"))
        #expect(l1.link.closure?.code == 4002)
        #expect(l2.link.closure == nil)
        #expect(try await l2.messages().welcome?.epoch == 2)

        // Epoch 1's connection task finally notices and detaches: nothing happens to epoch 2.
        await session.detach(epoch: 1, closure: LinkClosure(code: 4002, reason: "superseded", byPeer: false), now: Fixture.at(2))
        let snap = await session.snapshot()
        #expect(snap.connected)
        #expect(snap.epoch == 2)
        #expect(snap.disconnectedAt == nil)
        #expect(snap.lastCloseReason == nil)
        #expect(snap.remoteAddress == "192.0.2.1:2")

        // Work enqueued now goes to epoch 2 only, and is persisted `sent` (naming epoch 2).
        let records = try await Fixture.insert(["c1", "c2"], agent: agentId, into: store)
        await session.enqueue(records)
        for id in ["c1", "c2"] {
            let stored = try #require(try await store.command(id: id))
            #expect(stored.state == .sent)
            #expect(stored.reason == "epoch 2")
        }
        #expect(try await l1.drain().isEmpty)
        let sent = try await l2.messages().commands
        #expect(sent.map(\.spec.commandId) == ["c1", "c2"])
        #expect(sent.map(\.seq) == [1, 2])

        // Messages still arriving on epoch 1 are ignored.
        await session.handle(Envelope(.commandAck(CommandAck(commandId: "c1", duplicate: false)), seq: 1, ack: 2), epoch: 1, now: Fixture.at(3))
        #expect(try await store.command(id: "c1")?.state == .sent)
        #expect(await session.snapshot().pendingOutbound == 2)
        // ...while the same message on epoch 2 is applied.
        await session.handle(Envelope(.commandAck(CommandAck(commandId: "c1", duplicate: false)), seq: 1, ack: 2), epoch: 2, now: Fixture.at(3))
        #expect(try await store.command(id: "c1")?.state == .delivered)
        #expect(await session.snapshot().pendingOutbound == 0)

        // Detach of the current epoch does disconnect.
        await session.detach(epoch: 2, closure: LinkClosure(code: nil, reason: "connection lost", byPeer: true), now: Fixture.at(4))
        let after = await session.snapshot()
        #expect(!after.connected)
        #expect(after.epoch == nil)
        #expect(after.disconnectedAt == Fixture.at(4))
        #expect(after.lastCloseReason?.contains("connection lost") == true)
    }

    @Test("a stored command the protocol cannot carry (a timeout an older release allowed) ends rejected with why, and is never written")
    func unsendableCommandIsRejected() async throws {
        let (base, _, agentId, session, link) = try await Fixture.faultySession()
        var tiny = Fixture.command("c_tiny", agent: agentId)
        tiny.timeoutSeconds = 0.0001
        try await base.insertCommands([tiny])
        await session.enqueue([tiny] + (try await Fixture.insert(["c_next"], agent: agentId, into: base)))
        #expect(try await link.messages().commands.map(\.spec.commandId) == ["c_next"])
        let record = try #require(try await base.command(id: "c_tiny"))
        #expect(record.state == .rejected)
        #expect(record.reason?.contains("timeout_seconds must be") == true, "\(record.reason ?? "")")
    }

    @Test("a command is persisted `sent` before it is written: if that fails, nothing is written")
    func sentBeforeWrite() async throws {
        let (base, store, agentId, session, link) = try await Fixture.faultySession()

        store.failSentTransitions.withLock { $0 = 1 }
        await session.enqueue(try await Fixture.insert(["c1"], agent: agentId, into: base))
        #expect(try await link.messages().commands.isEmpty)
        #expect(try await base.command(id: "c1")?.state == .queued)
        #expect(store.sentAttempts.withLock { $0 } == ["c1"])

        // The next pump retries c1 first (it kept its place), then sends c2: order is preserved.
        await session.enqueue(try await Fixture.insert(["c2"], agent: agentId, into: base))
        #expect(try await link.messages().commands.map(\.spec.commandId) == ["c1", "c2"])
        #expect(try await base.command(id: "c1")?.state == .sent)
        #expect(try await base.command(id: "c2")?.state == .sent)
    }

    @Test("a command stored `sent` on the live connection is written with no store write of its own; on a newer connection it is recorded again")
    func sentRecordedAtInsert() async throws {
        let (base, store, agentId, session, l1) = try await Fixture.faultySession()
        #expect(session.liveEpoch.value == 1)
        // The session decides how a command created now is stored: `sent` on its live connection.
        let admission = session.admission()
        #expect(admission == .sent(epoch: 1))

        var c1 = Fixture.command("c1", agent: agentId)
        c1.state = admission.state
        c1.reason = admission.reason
        try await base.insertCommands([c1])
        await session.enqueue([c1], admission: admission)
        #expect(try await l1.messages().commands.map(\.spec.commandId) == ["c1"])
        #expect(store.sentAttempts.withLock { $0 }.isEmpty, "stored as sent with the insert: no second write")
        #expect(try await base.events(commandId: "c1").map(\.state) == [.queued, .sent])

        // Seen live on epoch 1, but epoch 2 took over before the session got it: recorded anew.
        var c2 = Fixture.command("c2", agent: agentId, created: 1)
        c2.state = .sent
        c2.reason = "epoch 1"
        try await base.insertCommands([c2])
        let l2 = try await TestLink.make()
        await session.attach(link: l2.link, epoch: 2, agentStream: "as", peerSaw: nil, now: Fixture.at(2))
        await session.enqueue([c2], admission: admission)
        #expect(try await l2.messages().commands.map(\.spec.commandId) == ["c1", "c2"])
        #expect(store.sentAttempts.withLock { $0 } == ["c1", "c2"])
        let reasons = try await base.events(commandId: "c2").map { "\($0.state.rawValue) \($0.reason ?? "-")" }
        #expect(reasons == ["queued -", "sent epoch 1", "sent epoch 2"])

        await session.detach(epoch: 2, closure: LinkClosure(code: nil, reason: "", byPeer: true), now: Fixture.at(3))
        #expect(session.liveEpoch.value == nil)
        #expect(session.admission() == .queued, "no connection: a new command is stored queued")
    }

    /// DESIGN principle 1: a transient store error must not make the session forget a command the
    /// agent could still receive: the item keeps its place in the outbox and is sent later.
    @Test("a command whose `sent` write failed once is still delivered later (retransmit or reconnect)")
    func transientStoreErrorDoesNotLoseCommand() async throws {
        let (base, store, agentId, session, l1) = try await Fixture.faultySession()
        store.failSentTransitions.withLock { $0 = 1 }
        await session.enqueue(try await Fixture.insert(["c1"], agent: agentId, into: base))
        _ = try await l1.drain()

        // The agent reconnects (a fresh chance to resend everything undelivered).
        let l2 = try await TestLink.make()
        await session.attach(link: l2.link, epoch: 2, agentStream: "as", peerSaw: nil, now: Fixture.at(60))
        let resent = try await l2.messages().commands.map(\.spec.commandId)
        let state = try await base.command(id: "c1")?.state
        #expect(resent == ["c1"])
        #expect(state == .sent)
    }

    // MARK: resume

    @Test("resume: unacknowledged commands are written again on the new link in seq order; acked ones are not",
          arguments: ResumeCase.allCases)
    func resume(_ resumeCase: ResumeCase) async throws {
        let (store, agents) = try await Fixture.store()
        let agentId = agents[0].id
        let session = Fixture.session(agentId: agentId, store: store)
        let l1 = try await TestLink.make()
        await session.attach(link: l1.link, epoch: 1, agentStream: "as", peerSaw: nil, now: t0)
        let serverStream = try #require(try await l1.messages().welcome?.stream)
        await session.enqueue(try await Fixture.insert(["c1", "c2", "c3", "c4"], agent: agentId, into: store))
        #expect(try await l1.messages().commands.map(\.seq) == [1, 2, 3, 4])

        // The agent journals and acks c1 (its seq 1), carrying a cumulative ack of server seq 1.
        await session.handle(Envelope(.commandAck(CommandAck(commandId: "c1", duplicate: false)), seq: 1, ack: 1), epoch: 1, now: Fixture.at(1))
        #expect(try await store.command(id: "c1")?.state == .delivered)
        await session.detach(epoch: 1, closure: LinkClosure(code: nil, reason: "connection lost", byPeer: true), now: Fixture.at(2))
        #expect(await session.snapshot().pendingOutbound == 3)

        let peerSaw: StreamPosition?
        let expected: [Int]
        switch resumeCase {
        case .noPosition: peerSaw = nil; expected = [2, 3, 4]
        case .matchingStream: peerSaw = StreamPosition(stream: serverStream, seq: 3); expected = [4]
        case .foreignStream: peerSaw = StreamPosition(stream: "some-older-server", seq: 3); expected = [2, 3, 4]
        }
        let l2 = try await TestLink.make()
        await session.attach(link: l2.link, epoch: 2, agentStream: "as", peerSaw: peerSaw, now: Fixture.at(10))
        let written = try await l2.messages()
        let welcome = try #require(written.welcome)
        #expect(welcome.stream == serverStream)  // same session, same outbound stream
        #expect(welcome.received == StreamPosition(stream: "as", seq: 1))
        let commands = written.commands
        #expect(commands.map(\.seq) == expected)
        #expect(commands.map(\.spec.commandId) == expected.map { "c\($0)" })
        #expect(!commands.contains { $0.spec.commandId == "c1" })
        for seq in expected {
            #expect(try await store.command(id: "c\(seq)")?.reason == "epoch 2")
        }
        #expect(try await store.command(id: "c1")?.state == .delivered)
    }

    enum ResumeCase: CaseIterable, Sendable { case noPosition, matchingStream, foreignStream }

    @Test("commands enqueued while offline wait and are sent on the next attach; a restarted session reloads them from the store")
    func offlineQueue() async throws {
        let (store, agents) = try await Fixture.store()
        let agentId = agents[0].id
        let session = Fixture.session(agentId: agentId, store: store)
        await session.enqueue(try await Fixture.insert(["c1", "c2"], agent: agentId, into: store))
        #expect(try await store.command(id: "c1")?.state == .queued)
        #expect(await session.snapshot().pendingOutbound == 2)

        // A second session object (as after a server restart) rebuilds its outbox from the store.
        let restarted = Fixture.session(agentId: agentId, store: store)
        let link = try await TestLink.make()
        await restarted.attach(link: link.link, epoch: 5, agentStream: "as", peerSaw: nil, now: t0)
        #expect(try await link.messages().commands.map(\.spec.commandId) == ["c1", "c2"])
        #expect(try await store.command(id: "c2")?.state == .sent)
        // Enqueueing something the outbox already holds does not send it twice.
        await restarted.enqueue(try #require(try await store.command(id: "c1")).asArray)
        #expect(try await link.messages().commands.isEmpty)
    }

    @Test("retransmission: after the ack deadline the unacknowledged tail is written again on the same link")
    func retransmitOnTick() async throws {
        let (store, agents) = try await Fixture.store()
        let agentId = agents[0].id
        let session = Fixture.session(agentId: agentId, store: store)
        let link = try await TestLink.make()
        // The session stamps writes with the wall clock, so this test's clock starts at the real now.
        let start = Date()
        await session.attach(link: link.link, epoch: 1, agentStream: "as", peerSaw: nil, now: start)
        await session.enqueue(try await Fixture.insert(["c1", "c2"], agent: agentId, into: store))
        #expect(try await link.messages().commands.map(\.seq) == [1, 2])
        // Every write above was stamped at or before `written`, however slowly this test runs.
        let written = Date()
        await session.handle(Envelope(.heartbeat(Heartbeat(id: 1, echo: nil, time: 0)), ack: 1), epoch: 1, now: written)
        // Before the ack deadline: nothing is written again.
        await session.tick(now: written.addingTimeInterval(1))
        #expect(try await link.messages().commands.isEmpty)
        // Past it for every write (and well within the inbound deadline, counted from the heartbeat).
        await session.tick(now: written.addingTimeInterval(AgentConfig.defaults.ackDeadline + 1))
        #expect(try await link.messages().commands.map(\.seq) == [2])
        #expect(try await store.command(id: "c1")?.state == .sent)  // an ack of the seq is not an ack of the command
    }

    // MARK: inbound

    @Test("command_ack → delivered, started → running, output stored, result → succeeded with output")
    func lifecycle() async throws {
        let (store, _, session, link) = try await Fixture.attachedSession(commands: ["c1"])
        _ = try await link.drain()

        await session.handle(Envelope(.commandAck(CommandAck(commandId: "c1", duplicate: false)), seq: 1, ack: 1), epoch: 1, now: Fixture.at(1))
        #expect(try await store.command(id: "c1")?.state == .delivered)
        await session.handle(Envelope(.started(CommandStarted(commandId: "c1", pid: 77, time: 2)), seq: 2), epoch: 1, now: Fixture.at(2))
        let running = try #require(try await store.command(id: "c1"))
        #expect(running.state == .running)
        #expect(running.reason == "pid 77")
        await session.handle(Envelope(.output(CommandOutput(commandId: "c1", stream: .stdout, offset: 0, data: Data("hel".utf8))), seq: 3), epoch: 1, now: Fixture.at(3))
        #expect(try await store.output(commandId: "c1", stream: .stdout) == Data("hel".utf8))
        let result = CommandResult(commandId: "c1", status: .succeeded, exitCode: 0, stdout: Data("hello\n".utf8), stderr: Data("warn".utf8), startedAt: 2, finishedAt: 4)
        await session.handle(Envelope(.result(result), seq: 4), epoch: 1, now: Fixture.at(4))
        let done = try #require(try await store.command(id: "c1"))
        #expect(done.state == .succeeded)
        #expect(done.exitCode == 0)
        #expect(try await store.output(commandId: "c1", stream: .stdout) == Data("hello\n".utf8))
        #expect(try await store.output(commandId: "c1", stream: .stderr) == Data("warn".utf8))
        #expect(try await store.events(commandId: "c1").map(\.state) == [.queued, .sent, .delivered, .running, .succeeded])
        #expect(link.link.isOpen)

        // The server acknowledges the agent's stream on its next heartbeat.
        await session.tick(now: Fixture.at(5))
        let beat = try await link.messages().last
        #expect(beat?.message.type == "heartbeat")
        #expect(beat?.ack == 4)
    }

    @Test("ack, started and result read together are stored in one write, and acknowledged after it")
    func reportsOfOneReadShareAWrite() async throws {
        let (store, _, session, link) = try await Fixture.attachedSession(commands: ["c1"])
        _ = try await link.drain()
        let before = store.commitCounts.transactions
        await session.handle([
            Envelope(.commandAck(CommandAck(commandId: "c1", duplicate: false)), seq: 1, ack: 1),
            Envelope(.started(CommandStarted(commandId: "c1", pid: 7, time: 1)), seq: 2),
            Envelope(.heartbeat(Heartbeat(id: 1, echo: nil, time: 1)), ack: 1),
            Envelope(.result(CommandResult(commandId: "c1", status: .succeeded, exitCode: 0, stdout: Data("ok".utf8), finishedAt: 1)), seq: 3),
        ], epoch: 1, now: Fixture.at(1))
        #expect(store.commitCounts.transactions == before + 1)
        #expect(try await store.events(commandId: "c1").map(\.state) == [.queued, .sent, .delivered, .running, .succeeded])
        #expect(try await store.output(commandId: "c1", stream: .stdout) == Data("ok".utf8))
        await session.tick(now: Fixture.at(2))
        #expect(try await link.messages().last?.ack == 3)
    }

    @Test("if the store cannot record an agent's reports, none is acknowledged; the resend after reconnecting applies each once")
    func failedReportWriteIsResent() async throws {
        let (base, store, agentId, session, first) = try await Fixture.faultySession()
        await session.enqueue(try await Fixture.insert(["c1"], agent: agentId, into: base))
        _ = try await first.drain()
        let reports = [
            Envelope(.commandAck(CommandAck(commandId: "c1", duplicate: false)), seq: 1, ack: 1),
            Envelope(.result(CommandResult(commandId: "c1", status: .succeeded, exitCode: 0, finishedAt: 1)), seq: 2),
        ]
        store.failReportWrites.withLock { $0 = 1 }
        await session.handle(reports, epoch: 1, now: Fixture.at(1))
        let closes = try await first.drain().compactMap { written -> UInt16? in
            if case .close(let code, _) = written { return code }
            return nil
        }
        #expect(closes == [CloseCode.internalError.rawValue])
        #expect(try await base.command(id: "c1")?.state == .sent)

        // The agent reconnects and resends everything the server never acknowledged.
        await session.detach(epoch: 1, closure: LinkClosure(code: CloseCode.internalError.rawValue, reason: "test", byPeer: false), now: Fixture.at(2))
        let second = try await TestLink.make(port: 50_001)
        await session.attach(link: second.link, epoch: 2, agentStream: "as", peerSaw: nil, now: Fixture.at(3))
        let welcome = try #require(try await second.messages().first { $0.message.type == "welcome" })
        guard case .welcome(let body) = welcome.message else { Issue.record("no welcome"); return }
        #expect(body.received?.seq == 0)
        await session.handle(reports, epoch: 2, now: Fixture.at(4))
        await session.handle(reports, epoch: 2, now: Fixture.at(5))  // and a duplicate resend
        #expect(try await base.events(commandId: "c1").map(\.state) == [.queued, .sent, .delivered, .succeeded])
        #expect(second.link.isOpen)
    }

    @Test("a failed result stores the reason and exit code; a non-terminal status as a result is ignored")
    func failedAndBogusResults() async throws {
        let (store, _, session, _) = try await Fixture.attachedSession(commands: ["c1", "c2"])
        await session.handle(Envelope(.result(CommandResult(commandId: "c1", status: .running, finishedAt: 1)), seq: 1), epoch: 1, now: Fixture.at(1))
        #expect(try await store.command(id: "c1")?.state == .sent)
        await session.handle(Envelope(.result(CommandResult(commandId: "c1", status: .expired, finishedAt: 1)), seq: 2), epoch: 1, now: Fixture.at(1))
        #expect(try await store.command(id: "c1")?.state == .sent)
        await session.handle(Envelope(.result(CommandResult(commandId: "c2", status: .failed, exitCode: 2, reason: "exit 2", finishedAt: 1)), seq: 3), epoch: 1, now: Fixture.at(1))
        let c2 = try #require(try await store.command(id: "c2"))
        #expect(c2.state == .failed)
        #expect(c2.exitCode == 2)
        #expect(c2.reason == "exit 2")
    }

    @Test("an agent cannot ack, start, write output into or complete another agent's command")
    func reportsOnlyOnOwnCommands() async throws {
        let (store, agents) = try await Fixture.store(agents: ["mallory", "victim"])
        let victim = agents[1].id
        _ = try await Fixture.insert(["theirs"], agent: victim, into: store)
        let session = Fixture.session(agentId: agents[0].id, store: store)
        let link = try await TestLink.make()
        await session.attach(link: link.link, epoch: 1, agentStream: "as", peerSaw: nil, now: t0)
        await session.handle(Envelope(.commandAck(CommandAck(commandId: "theirs", duplicate: false)), seq: 1), epoch: 1, now: Fixture.at(1))
        await session.handle(Envelope(.started(CommandStarted(commandId: "theirs", pid: 1, time: 1)), seq: 2), epoch: 1, now: Fixture.at(1))
        await session.handle(Envelope(.output(CommandOutput(commandId: "theirs", stream: .stdout, offset: 0, data: Data("forged".utf8))), seq: 3), epoch: 1, now: Fixture.at(1))
        await session.handle(Envelope(.result(CommandResult(commandId: "theirs", status: .succeeded, exitCode: 0, finishedAt: 1)), seq: 4), epoch: 1, now: Fixture.at(1))
        #expect(try await store.command(id: "theirs")?.state == .queued)
        #expect(try await store.output(commandId: "theirs", stream: .stdout).isEmpty)
        #expect(try await store.events(commandId: "theirs").map(\.state) == [.queued])

        // Mixed into one read with its own command's reports, the foreign one still changes nothing.
        await session.enqueue(try await Fixture.insert(["mine"], agent: agents[0].id, into: store))
        await session.handle([
            Envelope(.commandAck(CommandAck(commandId: "mine", duplicate: false)), seq: 5),
            Envelope(.result(CommandResult(commandId: "theirs", status: .succeeded, exitCode: 0, finishedAt: 2)), seq: 6),
            Envelope(.result(CommandResult(commandId: "mine", status: .succeeded, exitCode: 0, finishedAt: 2)), seq: 7),
        ], epoch: 1, now: Fixture.at(2))
        #expect(try await store.command(id: "mine")?.state == .succeeded)
        #expect(try await store.events(commandId: "theirs").map(\.state) == [.queued])
    }

    @Test("a duplicate seq is not applied twice (dedup is by seq, not by content)")
    func duplicateSeq() async throws {
        let (store, _, session, link) = try await Fixture.attachedSession(commands: ["c1", "c2"])
        _ = try await link.drain()

        await session.handle(Envelope(.commandAck(CommandAck(commandId: "c1", duplicate: false)), seq: 1), epoch: 1, now: Fixture.at(1))
        // Same seq again, with a different body: a duplicate must be dropped without looking inside.
        await session.handle(Envelope(.commandAck(CommandAck(commandId: "c2", duplicate: false)), seq: 1), epoch: 1, now: Fixture.at(2))
        #expect(try await store.command(id: "c2")?.state == .sent)
        // The exact retransmission is dropped too: one delivered event only.
        await session.handle(Envelope(.commandAck(CommandAck(commandId: "c1", duplicate: false)), seq: 1), epoch: 1, now: Fixture.at(3))
        #expect(try await store.events(commandId: "c1").filter { $0.state == .delivered }.count == 1)

        // Output is the non-idempotent case: offsets make a duplicate harmless in the store, but it must not even get there.
        await session.handle(Envelope(.output(CommandOutput(commandId: "c1", stream: .stdout, offset: 0, data: Data("ab".utf8))), seq: 2), epoch: 1, now: Fixture.at(4))
        await session.handle(Envelope(.output(CommandOutput(commandId: "c1", stream: .stdout, offset: 2, data: Data("cd".utf8))), seq: 2), epoch: 1, now: Fixture.at(5))
        #expect(try await store.output(commandId: "c1", stream: .stdout) == Data("ab".utf8))

        // After a reconnect with the same agent stream, old seqs are still duplicates...
        let l2 = try await TestLink.make()
        await session.attach(link: l2.link, epoch: 2, agentStream: "as", peerSaw: nil, now: Fixture.at(10))
        await session.handle(Envelope(.commandAck(CommandAck(commandId: "c2", duplicate: false)), seq: 2), epoch: 2, now: Fixture.at(11))
        #expect(try await store.command(id: "c2")?.state == .sent)
        // ...but a restarted agent (new stream) numbers from 1 again, and that is new.
        let l3 = try await TestLink.make()
        await session.attach(link: l3.link, epoch: 3, agentStream: "as-restarted", peerSaw: nil, now: Fixture.at(20))
        #expect(try await l3.messages().welcome?.received == StreamPosition(stream: "as-restarted", seq: 0))
        await session.handle(Envelope(.commandAck(CommandAck(commandId: "c2", duplicate: true)), seq: 1), epoch: 3, now: Fixture.at(21))
        #expect(try await store.command(id: "c2")?.state == .delivered)
    }

    /// An agent whose journal holds a command this server does not know (e.g. the database was
    /// restored from a backup) acks or reports it. That can never succeed, so it must not close the
    /// link and must be consumed: otherwise the agent resends it after every reconnect, forever.
    @Test("a message about an unknown command does not wedge the session", arguments: [
        Message.commandAck(CommandAck(commandId: "c_from_an_old_database", duplicate: false)),
        Message.started(CommandStarted(commandId: "c_from_an_old_database", pid: 1, time: 0)),
        Message.output(CommandOutput(commandId: "c_from_an_old_database", stream: .stdout, offset: 0, data: Data("x".utf8))),
        Message.result(CommandResult(commandId: "c_from_an_old_database", status: .succeeded, finishedAt: 1)),
    ])
    func unknownCommandIsNotPoison(_ message: Message) async throws {
        let (_, _, session, link) = try await Fixture.attachedSession()
        _ = try await link.drain()
        await session.handle(Envelope(message, seq: 1), epoch: 1, now: Fixture.at(1))
        let written = try await link.drain()
        #expect(link.link.isOpen)
        #expect(!written.contains { if case .close = $0 { return true } else { return false } })
        // The seq was consumed: the server acknowledges it on its next heartbeat.
        await session.tick(now: Fixture.at(2))
        #expect(try await link.messages().last?.ack == 1)
    }

    @Test("an ack for a command that already expired makes the server send a cancel")
    func lateAckGetsCancel() async throws {
        let (store, _, session, link) = try await Fixture.attachedSession(commands: ["c1"])
        _ = try await link.drain()
        _ = try await store.transition(commandId: "c1", to: .expired, reason: "test", now: Fixture.at(1))
        await session.drop(commandId: "c1")
        await session.handle(Envelope(.commandAck(CommandAck(commandId: "c1", duplicate: false)), seq: 1, ack: 1), epoch: 1, now: Fixture.at(2))
        #expect(try await store.command(id: "c1")?.state == .expired)
        #expect(await session.snapshot().pendingOutbound == 1)
        // Ticks well past the ack deadline (but within the inbound deadline).
        await session.tick(now: Fixture.at(15))
        await session.tick(now: Fixture.at(30))
        func cancels() async throws -> [String] {
            try await link.messages().compactMap { e -> String? in
                if case .cancel(let c) = e.message { return c.commandId }
                return nil
            }
        }
        let early = try await cancels()
        #expect(early == ["c1"])
        // Any later pump (here: another cancel) finally sends it, in seq order.
        await session.sendCancel(commandId: "other", reason: "kick the pump")
        #expect(try await cancels() == (early.isEmpty ? ["c1", "other"] : ["other"]))
    }

    @Test("hello after authentication, and server-only messages from the agent, close with a protocol error")
    func protocolViolations() async throws {
        let (store, agents) = try await Fixture.store()
        let session = Fixture.session(agentId: agents[0].id, store: store)
        let link = try await TestLink.make()
        await session.attach(link: link.link, epoch: 1, agentStream: "as", peerSaw: nil, now: t0)
        _ = try await link.drain()
        await session.handle(Samples.hello, epoch: 1, now: Fixture.at(1))
        let written = try await link.drain()
        #expect(written.contains(.close(code: CloseCode.protocolError.rawValue, reason: "already authenticated")))
    }

    // MARK: liveness

    @Test("online needs downlink proof: degraded until a heartbeat echoes this connection's heartbeat")
    func onlineVersusDegraded() async throws {
        let (store, agents) = try await Fixture.store()
        let session = Fixture.session(agentId: agents[0].id, store: store)
        let deadline = AgentConfig.defaults.heartbeatDeadline
        #expect(await session.snapshot().status(now: t0, deadline: deadline) == .offline)

        let l1 = try await TestLink.make()
        await session.attach(link: l1.link, epoch: 1, agentStream: "as", peerSaw: nil, now: t0)
        let firstId = try #require(try await l1.messages().welcome?.heartbeatId)
        // Connected and heard from (uplink), but nothing proves our frames arrive.
        await session.handle(Envelope(.heartbeat(Heartbeat(id: 1, echo: nil, time: 0))), epoch: 1, now: Fixture.at(1))
        #expect(await session.snapshot().status(now: Fixture.at(1), deadline: deadline) == .degraded)
        #expect(await session.snapshot().lastSeenAt == Fixture.at(1))
        await session.handle(Envelope(.heartbeat(Heartbeat(id: 2, echo: firstId, time: 0))), epoch: 1, now: Fixture.at(2))
        #expect(await session.snapshot().status(now: Fixture.at(2), deadline: deadline) == .online)
        #expect(await session.snapshot().lastDownlinkAt == Fixture.at(2))
        // Proof goes stale after the deadline.
        #expect(await session.snapshot().status(now: Fixture.at(2 + deadline + 1), deadline: deadline) == .degraded)

        // A new connection must prove its own downlink: an echo of the old connection's heartbeat is not proof.
        let l2 = try await TestLink.make()
        await session.attach(link: l2.link, epoch: 2, agentStream: "as", peerSaw: nil, now: Fixture.at(10))
        let secondId = try #require(try await l2.messages().welcome?.heartbeatId)
        #expect(secondId > firstId)
        #expect(await session.snapshot().status(now: Fixture.at(10), deadline: deadline) == .degraded)
        await session.handle(Envelope(.heartbeat(Heartbeat(id: 3, echo: firstId, time: 0))), epoch: 2, now: Fixture.at(11))
        #expect(await session.snapshot().status(now: Fixture.at(11), deadline: deadline) == .degraded)
        await session.handle(Envelope(.heartbeat(Heartbeat(id: 4, echo: secondId, time: 0))), epoch: 2, now: Fixture.at(12))
        #expect(await session.snapshot().status(now: Fixture.at(12), deadline: deadline) == .online)

        await session.detach(epoch: 2, closure: LinkClosure(code: nil, reason: "gone", byPeer: true), now: Fixture.at(13))
        #expect(await session.snapshot().status(now: Fixture.at(13), deadline: deadline) == .offline)
    }

    @Test("an ack that covers new server messages also proves the downlink; an ack of 0 does not")
    func ackProvesDownlink() async throws {
        let (store, agentId, session, _) = try await Fixture.attachedSession()
        await session.handle(Envelope(.heartbeat(Heartbeat(id: 1, echo: nil, time: 0)), ack: 0), epoch: 1, now: Fixture.at(1))
        #expect(await session.snapshot().lastDownlinkAt == nil)
        await session.enqueue(try await Fixture.insert(["c1"], agent: agentId, into: store))
        await session.handle(Envelope(.heartbeat(Heartbeat(id: 2, echo: nil, time: 0)), ack: 1), epoch: 1, now: Fixture.at(2))
        #expect(await session.snapshot().lastDownlinkAt == Fixture.at(2))
        #expect(await session.snapshot().status(now: Fixture.at(2), deadline: 45) == .online)
    }

    @Test("undelivered reasons say where the agent is")
    func undeliveredReasons() async throws {
        let (store, agents) = try await Fixture.store()
        let agentId = agents[0].id
        let session = Fixture.session(agentId: agentId, store: store)
        let record = Fixture.command("c1", agent: agentId)
        #expect(await session.undeliveredReason(for: record, now: t0).contains("has not connected"))
        let link = try await TestLink.make()
        await session.attach(link: link.link, epoch: 3, agentStream: "as", peerSaw: nil, now: t0)
        let connected = await session.undeliveredReason(for: record, now: t0)
        #expect(connected.contains("epoch 3"))
        #expect(connected.contains("downlink never proven"))
        await session.detach(epoch: 3, closure: LinkClosure(code: 4004, reason: "no data", byPeer: false), now: Fixture.at(5))
        let offline = await session.undeliveredReason(for: record, now: Fixture.at(6))
        #expect(offline.contains("offline since"))
        #expect(offline.contains("4004"))
    }
}

extension CommandRecord {
    var asArray: [CommandRecord] { [self] }
}

extension Samples {
    static let hello = Envelope(.hello(Hello(agentId: "a", signature: "s", facts: Fixture.facts("x"), stream: "as", received: nil)))
}

enum Samples {}
