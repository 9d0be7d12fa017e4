import Foundation
import RMMProtocol
import RMMStore
import Testing
@testable import RMMServer

/// The session's reading of the agent's frames without sockets: acks, the reliable inbox's order,
/// what each command report asks of the store and what follows from what the store did.
@Suite("InboundMachine")
struct InboundMachineTests {
    /// A stream that has sent `count` cancels (seqs 1...count), none acknowledged.
    private func outbound(sent count: Int) -> OutboundStream {
        var stream = OutboundStream(stream: "server-stream")
        for i in 0..<count { stream.append(Cancel(commandId: "c\(i)", reason: "test")) }
        return stream
    }

    private func ack(_ id: String, seq: Int, duplicate: Bool = false) -> Envelope {
        Envelope(.commandAck(CommandAck(commandId: id, duplicate: duplicate)), seq: seq)
    }

    private func result(_ id: String, _ status: CommandState, seq: Int) -> Envelope {
        Envelope(.result(CommandResult(commandId: id, status: status, stdout: Data("out".utf8), finishedAt: 1)), seq: seq)
    }

    private func record(_ id: String, _ state: CommandState) -> CommandRecord {
        var record = Fixture.command(id, agent: "a1")
        record.state = state
        return record
    }

    private func report(findings: [LinkFinding]?) -> LinkReport {
        LinkReport(side: LinkSideReport(counters: LinkCounters(), tcp: nil, queuedBytes: nil, downlinkMode: .text, time: 0),
                   reconnects: [], agentFinding: nil, consumerStalledSeconds: 0, findings: findings)
    }

    @Test("an ack that acknowledges something new proves the downlink; a repeated one does nothing")
    func ackProgress() {
        let machine = InboundMachine()
        var stream = outbound(sent: 2)
        let reading = machine.read([Envelope(.heartbeat(Heartbeat(id: 1, echo: nil, time: 0)), ack: 1),
                                    Envelope(.heartbeat(Heartbeat(id: 2, echo: nil, time: 0)), ack: 1)],
                                   outbound: &stream, firstHeartbeatId: 5)
        #expect(reading.actions == [.downlinkProven, .peerHeartbeat(1), .peerHeartbeat(2)])
        #expect(stream.acked == 1)
        #expect(!reading.stopped)
    }

    @Test("an ack beyond the last seq sent closes with 1002 and nothing after it in the read is taken")
    func ackBeyondLastSent() {
        let machine = InboundMachine()
        var stream = outbound(sent: 1)
        let reading = machine.read([ack("c1", seq: 1), Envelope(.heartbeat(Heartbeat(id: 1, echo: nil, time: 0)), ack: 9), ack("c2", seq: 2)],
                                   outbound: &stream, firstHeartbeatId: 1)
        #expect(reading.stopped)
        #expect(reading.actions == [.close(.protocolError, reason: "ack 9 is beyond the last message sent (1)")])
        #expect(reading.reliable.isEmpty && reading.findings.isEmpty)
        #expect(stream.acked == 0)
    }

    @Test("reliable messages at or below the newest seq handled or seen in this read only owe an ack; new ones keep their order")
    func reliableOrder() {
        var machine = InboundMachine()
        machine.peerStream("agent-stream")
        var stream = outbound(sent: 0)
        // Seq 1 was handled before.
        let first = InboundMachine.batch([.init(seq: 1, message: ack("c0", seq: 1).message)], outputCap: 100)
        _ = machine.settle(first, effects: [.changed(record("c0", .delivered))], agentId: "a1")
        #expect(machine.lastSeq == 1)
        let reading = machine.read([ack("c0", seq: 1), ack("c1", seq: 3), ack("c2", seq: 2), ack("c3", seq: 4)],
                                   outbound: &stream, firstHeartbeatId: 1)
        #expect(reading.actions == [.oweAck, .oweAck])
        #expect(reading.reliable.map(\.seq) == [3, 4])
        #expect(machine.lastSeq == 1, "reading handles nothing: only a settled batch does")
    }

    @Test("a heartbeat echoing this connection's heartbeat proves the downlink; an older echo does not")
    func heartbeatEcho() {
        let machine = InboundMachine()
        var stream = outbound(sent: 0)
        let metrics = HostMetrics(cpuPercent: 12)
        let reading = machine.read([Envelope(.heartbeat(Heartbeat(id: 7, echo: 4, time: 0))),
                                    Envelope(.heartbeat(Heartbeat(id: 8, echo: 5, time: 0, metrics: metrics)))],
                                   outbound: &stream, firstHeartbeatId: 5)
        #expect(reading.actions == [.peerHeartbeat(7), .downlinkProven, .metrics(metrics), .peerHeartbeat(8)])
    }

    @Test("link reports are kept as evidence; those with findings are also judged; probe replies are timed")
    func linkReportsAndProbes() {
        let machine = InboundMachine()
        var stream = outbound(sent: 0)
        let finding = LinkFinding(kind: .downlinkQuiet, time: 1, connectionId: nil, downlinkMode: .text, detail: "quiet")
        let plain = report(findings: nil)
        let withFinding = report(findings: [finding])
        let reading = machine.read([Envelope(.linkReport(plain)), Envelope(.linkReport(withFinding)), Envelope(.probeReply(ProbeReply(id: 3, receivedBytes: 10)))],
                                   outbound: &stream, firstHeartbeatId: 1)
        #expect(reading.actions == [.linkReport(plain), .linkReport(withFinding), .probeReplied(id: 3)])
        #expect(reading.findings == [withFinding])
    }

    @Test("what no authenticated agent sends closes with 1002, and the read goes on")
    func notAnAgentMessage() {
        let machine = InboundMachine()
        var stream = outbound(sent: 0)
        let hello = Hello(agentId: "a1", signature: "s", facts: Fixture.facts("web-1"), stream: "x", received: nil)
        let reading = machine.read([Envelope(.hello(hello)), Envelope(.challenge(Challenge(nonce: "n", serverVersion: "1"))), ack("c1", seq: 1)],
                                   outbound: &stream, firstHeartbeatId: 1)
        #expect(reading.actions == [.close(.protocolError, reason: "already authenticated"),
                                    .close(.protocolError, reason: "'challenge' is not something an agent sends")])
        #expect(!reading.stopped)
        #expect(reading.reliable.map(\.seq) == [1])
    }

    @Test("a batch asks the store for one report per command message, output capped; a non-terminal result asks for none")
    func batchReports() {
        let messages: [InboundMachine.Reliable] = [
            .init(seq: 1, message: ack("c1", seq: 1, duplicate: true).message),
            .init(seq: 2, message: .configApplied(ConfigApplied(version: 3))),
            .init(seq: 3, message: .started(CommandStarted(commandId: "c1", pid: 42, time: 0))),
            .init(seq: 4, message: result("c1", .running, seq: 4).message),
            .init(seq: 5, message: result("c1", .succeeded, seq: 5).message),
        ]
        let batch = InboundMachine.batch(messages, outputCap: 2)
        #expect(batch.reportOf == [0, nil, 1, nil, 2])
        #expect(batch.reports.map(\.commandId) == ["c1", "c1", "c1"])
        #expect(batch.reports[0] == .acknowledged(commandId: "c1", reason: "agent already had it (retransmission)"))
        #expect(batch.reports[1] == .started(commandId: "c1", reason: "pid 42"))
        guard case .finished(_, let outcome) = batch.reports[2] else {
            Issue.record("a terminal result asks to finish the command")
            return
        }
        #expect(outcome.state == .succeeded)
        #expect(outcome.stdout.count <= 2, "output capped at the config's cap")
    }

    @Test("settling: what follows from each effect, in order; every seq handled; an ack owed")
    func settle() {
        var machine = InboundMachine()
        machine.peerStream("agent-stream")
        let messages: [InboundMachine.Reliable] = [
            .init(seq: 1, message: ack("mine", seq: 1).message),
            .init(seq: 2, message: ack("theirs", seq: 2).message),
            .init(seq: 3, message: ack("gone", seq: 3).message),
            .init(seq: 4, message: ack("expired", seq: 4).message),
            .init(seq: 5, message: result("done", .failed, seq: 5).message),
            .init(seq: 6, message: .configApplied(ConfigApplied(version: 7))),
            .init(seq: 7, message: result("odd", .running, seq: 7).message),
        ]
        let batch = InboundMachine.batch(messages, outputCap: 100)
        let effects: [ReportEffect] = [
            .changed(record("mine", .delivered)), .notOwned, .unknown,
            .unchanged(record("expired", .expired)), .unchanged(record("done", .succeeded)),
        ]
        let settlement = machine.settle(batch, effects: effects, agentId: "a1")
        #expect(settlement.changed)
        #expect(!settlement.stopped)
        #expect(settlement.actions == [
            .warn("agent a1 reported on command theirs, which is not its own; ignored"),
            .warn("dropped command_ack for command gone: unknown to this server, or its record is unreadable"),
            .warn("agent acknowledged expired after it ended expired; sending cancel"),
            .cancel(Cancel(commandId: "expired", reason: "command had already expired on the server")),
            .warn("late result for done: agent says failed, server already recorded succeeded"),
            .configApplied(version: 7),
            .warn("agent reported non-terminal status running as a result for odd; ignored"),
            .oweAck,
        ])
        #expect(machine.lastSeq == 7)
    }

    @Test("a duplicate ack of an ended command asks for no cancel; a rejected result is logged")
    func quietFollowUps() {
        let duplicate = CommandReports.follow(ack("c1", seq: 1, duplicate: true).message, .unchanged(record("c1", .cancelled)), agentId: "a1")
        #expect(duplicate.actions.isEmpty && !duplicate.changed)
        var rejected = CommandResult(commandId: "c2", status: .rejected, reason: "bad signature", finishedAt: 1)
        rejected.stdout = Data()
        let follow = CommandReports.follow(.result(rejected), .changed(record("c2", .rejected)), agentId: "a1")
        #expect(follow.changed)
        #expect(follow.actions == [.warn("agent rejected command c2: bad signature"), .commandEnded(record("c2", .rejected))])
    }

    @Test("a reliable message no agent sends stops settling: it and the rest stay unhandled, no ack is owed")
    func settleStops() {
        var machine = InboundMachine()
        machine.peerStream("agent-stream")
        let spec = CommandSpec(commandId: "x", kind: .shell, text: "true", timeoutSeconds: 1, expiresAt: 1)
        let messages: [InboundMachine.Reliable] = [
            .init(seq: 1, message: ack("c1", seq: 1).message),
            .init(seq: 2, message: .command(spec)),
            .init(seq: 3, message: ack("c2", seq: 3).message),
        ]
        let batch = InboundMachine.batch(messages, outputCap: 100)
        let settlement = machine.settle(batch, effects: [.changed(record("c1", .delivered)), .changed(record("c2", .delivered))], agentId: "a1")
        #expect(settlement.stopped)
        #expect(settlement.actions == [.close(.protocolError, reason: "'command' is not something an agent sends")])
        #expect(machine.lastSeq == 1)
    }

    @Test("effects that changed a command wake the long-polls even when their connection is gone")
    func anyChanged() {
        #expect(InboundMachine.anyChanged([.unknown, .changed(record("c1", .running))]))
        #expect(!InboundMachine.anyChanged([.unknown, .notOwned, .unchanged(record("c1", .running))]))
    }
}
