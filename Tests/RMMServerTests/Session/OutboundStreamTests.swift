import Foundation
import RMMProtocol
import RMMStore
import Testing
@testable import RMMServer

/// The session's outbound stream without sockets: every `Delivery` and `AckOutcome` it returns.
@Suite("OutboundStream")
struct OutboundStreamTests {
    let t0 = Fixture.t0

    private func command(_ id: String, state: CommandState = .queued) -> CommandRecord {
        var record = Fixture.command(id, agent: "a1")
        record.state = state
        return record
    }

    @Test("offline nothing is delivered; on a connection a queued command is recorded sent before it is written, in seq order")
    func recordsSentBeforeWrite() {
        var stream = OutboundStream(stream: "s")
        stream.add(command("c1"))
        stream.add(command("c2"))
        #expect(stream.nextDelivery() == nil, "no connection")
        #expect(!stream.hasUnsent)
        stream.connected(epoch: 1)
        #expect(stream.hasUnsent)
        guard case .recordSent(let seq, let epoch, let pending)? = stream.nextDelivery() else {
            Issue.record("a queued command must be recorded sent first")
            return
        }
        #expect(seq == 1 && epoch == 1 && pending.id == "c1")
        // Until it is written, the same item is next (the pump never skips an unwritten one).
        #expect(stream.nextDelivery() == .recordSent(seq: 1, epoch: 1, pending))
        stream.written(seq: 1, epoch: 1, bytes: 120, now: t0)
        #expect(stream.sentThrough == 1)
        #expect(stream.writtenAt[1] == t0 && stream.writtenBytes[1] == 120)
        guard case .recordSent(2, 1, let second)? = stream.nextDelivery() else {
            Issue.record("c2 follows c1")
            return
        }
        #expect(second.id == "c2")
        stream.written(seq: 2, epoch: 1, bytes: 100, now: t0)
        #expect(stream.nextDelivery() == nil)
        #expect(stream.pendingCommandIds == ["c1", "c2"])
    }

    @Test("a command admitted `sent` on the live connection is written without a store write; on another connection it is recorded again")
    func admissionSkipsTheWriteOnItsConnectionOnly() {
        var stream = OutboundStream(stream: "s")
        stream.connected(epoch: 3)
        stream.add(command("c1", state: .sent), admission: .sent(epoch: 3))
        guard case .write(1, 3, .command(let pending))? = stream.nextDelivery() else {
            Issue.record("admitted sent on epoch 3: written at once")
            return
        }
        #expect(pending.id == "c1")
        stream.written(seq: 1, epoch: 3, bytes: 10, now: t0)

        stream.add(command("c2", state: .sent), admission: .sent(epoch: 2))
        guard case .recordSent(2, 3, _)? = stream.nextDelivery() else {
            Issue.record("admitted on an older connection: recorded again on this one")
            return
        }
        // A queued record never skips the write, whatever the admission says.
        var other = OutboundStream(stream: "t")
        other.connected(epoch: 1)
        other.add(command("c3"), admission: .sent(epoch: 1))
        guard case .recordSent(1, 1, _)? = other.nextDelivery() else {
            Issue.record("a record stored queued must be recorded sent")
            return
        }
    }

    @Test("the admission: sent on the live epoch with its reason, else queued")
    func admission() {
        #expect(CommandAdmission(liveEpoch: nil) == .queued)
        #expect(CommandAdmission.queued.state == .queued && CommandAdmission.queued.reason == nil)
        let sent = CommandAdmission(liveEpoch: 7)
        #expect(sent == .sent(epoch: 7))
        #expect(sent.state == .sent && sent.reason == "epoch 7")
        #expect(CommandAdmission.sentReason(epoch: 7) == "epoch 7")
    }

    @Test("a command with a value the protocol refuses is handed back to be rejected, then dropped")
    func refusesUnsendable() {
        var stream = OutboundStream(stream: "s")
        var bad = command("c1")
        bad.timeoutSeconds = .infinity
        stream.add(bad)
        stream.add(command("c2"))
        stream.connected(epoch: 1)
        guard case .refuse(1, 1, "c1", let problem)? = stream.nextDelivery() else {
            Issue.record("an unsendable command is refused, never written")
            return
        }
        #expect(!problem.isEmpty)
        stream.dropped(seq: 1, epoch: 1)
        #expect(!stream.holds(commandId: "c1"))
        guard case .recordSent(2, 1, _)? = stream.nextDelivery() else {
            Issue.record("the next item follows")
            return
        }
    }

    @Test("an outcome for a connection that was replaced changes nothing; the new one carries everything unacknowledged")
    func staleOutcomesIgnored() {
        var stream = OutboundStream(stream: "s")
        stream.add(command("c1"))
        stream.connected(epoch: 1)
        stream.connected(epoch: 2)
        stream.written(seq: 1, epoch: 1, bytes: 5, now: t0)
        stream.dropped(seq: 1, epoch: 1)
        #expect(stream.holds(commandId: "c1") && stream.sentThrough == 0 && stream.writtenAt.isEmpty)
        guard case .recordSent(1, 2, _)? = stream.nextDelivery() else {
            Issue.record("epoch 2 sends it")
            return
        }
        stream.disconnected()
        #expect(stream.nextDelivery() == nil && !stream.hasUnsent)
    }

    @Test("acks: beyond the last seq refused, new ones advance and prune the write times, old ones change nothing")
    func acknowledgements() {
        var stream = OutboundStream(stream: "s")
        stream.add(command("c1"))
        stream.add(command("c2"))
        stream.connected(epoch: 1)
        stream.written(seq: 1, epoch: 1, bytes: 5, now: t0)
        stream.written(seq: 2, epoch: 1, bytes: 5, now: t0)
        #expect(stream.acknowledge(through: 3) == .beyondLastSent(lastSeq: 2))
        #expect(stream.pendingCount == 2)
        #expect(stream.acknowledge(through: 0) == .nothingNew)
        #expect(stream.acknowledge(through: 1) == .advanced)
        #expect(stream.pendingCommandIds == ["c2"])
        #expect(stream.writtenAt.keys.sorted() == [2] && stream.writtenBytes.keys.sorted() == [2])
        #expect(stream.acknowledge(through: 1) == .nothingNew)
    }

    @Test("resume: the agent's position on this stream is an ack; one beyond the last seq is refused; another stream's is ignored")
    func resume() {
        var stream = OutboundStream(stream: "s")
        stream.add(command("c1"))
        stream.add(command("c2"))
        #expect(stream.resume(peerSaw: StreamPosition(stream: "s", seq: 5)) == false)
        #expect(stream.pendingCount == 2)
        #expect(stream.resume(peerSaw: StreamPosition(stream: "other", seq: 1)) == true)
        #expect(stream.pendingCount == 2)
        #expect(stream.resume(peerSaw: StreamPosition(stream: "s", seq: 1)) == true)
        stream.connected(epoch: 1)
        #expect(stream.sentThrough == 1)
        guard case .recordSent(2, 1, _)? = stream.nextDelivery() else {
            Issue.record("only the unacknowledged one goes out")
            return
        }
    }

    @Test("an owed ack is cleared by any item written or by a heartbeat")
    func owedAck() {
        var stream = OutboundStream(stream: "s")
        stream.connected(epoch: 1)
        stream.oweAck()
        #expect(stream.ackOwed)
        stream.ackSent()
        #expect(!stream.ackOwed)
        stream.oweAck()
        stream.push(config: .defaults)
        guard case .write(1, 1, .config)? = stream.nextDelivery() else {
            Issue.record("a config is written without a store write")
            return
        }
        stream.written(seq: 1, epoch: 1, bytes: 5, now: t0)
        #expect(!stream.ackOwed)
    }

    @Test("one pump at a time per connection; a pump stuck on an old connection does not hold up the next")
    func onePump() {
        var stream = OutboundStream(stream: "s")
        #expect(stream.beginPump() == nil, "no connection, nothing to pump")
        stream.connected(epoch: 1)
        #expect(stream.beginPump() == 1)
        #expect(stream.beginPump() == nil)
        stream.endPump(epoch: 1)
        #expect(stream.beginPump() == 1)
        // Connection 1's pump is stuck on a store call when connection 2 arrives.
        stream.disconnected()
        stream.connected(epoch: 2)
        #expect(!stream.pumps(epoch: 1), "the old pump stops at its next step")
        #expect(stream.beginPump() == 2)
        #expect(stream.pumps(epoch: 2))
        stream.endPump(epoch: 1)  // the old pump ends late: the new one keeps its claim
        #expect(stream.beginPump() == nil)
        stream.endPump(epoch: 2)
        #expect(stream.beginPump() == 2)
    }

    @Test("cancel replaces the undelivered command; drop removes it; a newer config replaces an unacknowledged one")
    func itemsReplaced() {
        var stream = OutboundStream(stream: "s")
        stream.connected(epoch: 1)
        stream.add(command("c1", state: .sent), admission: .sent(epoch: 1))
        stream.add(command("c1"))  // held already: not twice
        #expect(stream.pendingCount == 1)
        stream.cancel(commandId: "c1", reason: "operator")
        #expect(stream.nextDelivery() == .write(seq: 2, epoch: 1, .cancel(Cancel(commandId: "c1", reason: "operator"))))
        stream.add(command("c2"))
        stream.drop(commandId: "c2")
        #expect(!stream.holds(commandId: "c2"))
        stream.push(config: .defaults)
        var newer = AgentConfig.defaults
        newer.version = 2
        stream.push(config: newer)
        #expect(stream.pendingCount == 2)
        stream.written(seq: 2, epoch: 1, bytes: 5, now: t0)
        #expect(stream.nextDelivery() == .write(seq: 5, epoch: 1, .config(newer)))
    }

    @Test("past the ack deadline everything unacknowledged is written again; overdue commands and deadlines are reported")
    func retransmission() {
        var stream = OutboundStream(stream: "s")
        stream.add(command("c1"))
        stream.append(Cancel(commandId: "c0", reason: "ended"))
        stream.connected(epoch: 1)
        stream.written(seq: 1, epoch: 1, bytes: 300, now: t0)
        stream.written(seq: 2, epoch: 1, bytes: 40, now: Fixture.at(2))
        #expect(stream.retransmitDue(ackDeadline: 10) == Fixture.at(10))
        #expect(stream.oldestCommandWrite == t0)
        #expect(stream.oldestUnackedWrite?.bytes == 300 && stream.oldestUnackedWrite?.at == t0)
        #expect(stream.overdueCommand(now: Fixture.at(9), ackDeadline: 10) == nil)
        #expect(stream.rewindIfOverdue(now: Fixture.at(9), ackDeadline: 10) == nil)
        let overdue = stream.overdueCommand(now: Fixture.at(11), ackDeadline: 10)
        #expect(overdue?.id == "c1" && overdue?.age == 11)
        #expect(stream.rewindIfOverdue(now: Fixture.at(11), ackDeadline: 10) == 2)
        #expect(stream.sentThrough == 0 && stream.hasUnsent)
        guard case .recordSent(1, 1, _)? = stream.nextDelivery() else {
            Issue.record("the command goes out again (recorded sent again: a history line per write)")
            return
        }
        stream.disconnected()
        #expect(stream.retransmitDue(ackDeadline: 10) == nil && stream.oldestCommandWrite == nil)
    }
}
