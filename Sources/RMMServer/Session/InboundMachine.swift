import Foundation
import RMMProtocol
import RMMStore

/// The agent → server stream of one session, as pure state: what each frame of a socket read
/// means (ack progress, the downlink proven, heartbeat facts, link reports, the reliable inbox's
/// order and duplicates), and, once the reliable messages' command reports are durable, what
/// follows from each (`CommandReports`) and which seqs are handled. The session performs the
/// actions — store writes, sends, logs, closes — and reports back.
///
/// The rules it keeps: an ack beyond the last seq sent closes the connection and nothing after it
/// in the read is taken; a reliable message at or below the newest seq seen is a duplicate and only
/// owes an ack; a seq is handled only after its report committed, and none after a protocol error.
struct InboundMachine: Sendable {
    /// The agent's reliable stream as handled: the ack the server owes and the hello position.
    private(set) var inbox = ReliableInbox()

    init() {}

    /// What the session does for one inbound frame, or for one message after its report committed.
    enum Action: Equatable {
        /// The agent broke the protocol: close the connection with `code`, saying `reason`.
        case close(CloseCode, reason: String)
        /// The agent proved the downlink now (an ack advanced, or a heartbeat echoed this connection's).
        case downlinkProven
        /// The agent's host metrics, from a heartbeat.
        case metrics(HostMetrics)
        /// The newest heartbeat id the agent sent (echoed on the server's next heartbeat).
        case peerHeartbeat(Int)
        /// The agent answered probe `id`.
        case probeReplied(id: Int)
        /// The agent's link report, kept as the latest evidence of this connection.
        case linkReport(LinkReport)
        /// The agent is owed an ack (it rides on the next heartbeat).
        case oweAck
        /// Something for the operator's log, at warning level.
        case warn(String)
        /// Ask the agent to stand down from a command the server already ended.
        case cancel(Cancel)
        /// The agent applied config `version`.
        case configApplied(version: Int)
        /// The agent's result ended `record` (stored in its terminal state): counted in the metrics.
        case commandEnded(CommandRecord)
    }

    /// A new reliable message and its seq.
    struct Reliable: Equatable {
        let seq: Int
        let message: Message
    }

    /// One socket read sorted out.
    struct Reading: Equatable {
        /// What each frame asks, in arrival order (the session performs them before anything else).
        var actions: [Action] = []
        /// True when the read ended in a protocol error: perform `actions`, then nothing more.
        var stopped = false
        /// Link reports with findings, to judge before the reliable messages are applied.
        var findings: [LinkReport] = []
        /// New reliable messages, in arrival order, for `batch`.
        var reliable: [Reliable] = []
    }

    /// The agent → server side of the session's stream position.
    var lastSeq: Int { inbox.lastSeq }
    var position: StreamPosition? { inbox.position }

    /// The agent announced its stream on connect (a new id numbers from 1 again).
    mutating func peerStream(_ id: String) {
        inbox.peerStream(id)
    }

    /// Sorts out the frames of one read from a connection whose first heartbeat id is
    /// `firstHeartbeatId`: acks go to `outbound` as they come.
    func read(_ envelopes: [Envelope], outbound: inout OutboundStream, firstHeartbeatId: Int) -> Reading {
        var reading = Reading()
        var newest = inbox.lastSeq
        for envelope in envelopes {
            if let ack = envelope.ack {
                switch outbound.acknowledge(through: ack) {
                case .beyondLastSent(let lastSeq):
                    // Taking it would drop commands the agent never received; no honest agent sends it.
                    reading.actions.append(.close(.protocolError, reason: "ack \(ack) is beyond the last message sent (\(lastSeq))"))
                    reading.stopped = true
                    reading.findings = []
                    reading.reliable = []
                    return reading
                case .advanced:
                    reading.actions.append(.downlinkProven)
                case .nothingNew:
                    break
                }
            }
            let message = envelope.message
            if message.isReliable {
                guard let seq = envelope.seq else { continue }
                // Already handled (a resend after a reconnect, or a duplicate): just ack again.
                guard seq > newest else {
                    reading.actions.append(.oweAck)
                    continue
                }
                newest = seq
                reading.reliable.append(Reliable(seq: seq, message: message))
            } else {
                if case .linkReport(let report) = message, report.findings?.isEmpty == false { reading.findings.append(report) }
                reading.actions += Self.unreliable(message, firstHeartbeatId: firstHeartbeatId)
            }
        }
        return reading
    }

    /// What an unreliable message asks.
    private static func unreliable(_ message: Message, firstHeartbeatId: Int) -> [Action] {
        switch message {
        case .heartbeat(let heartbeat):
            var actions: [Action] = []
            if let echo = heartbeat.echo, echo >= firstHeartbeatId { actions.append(.downlinkProven) }
            if let metrics = heartbeat.metrics { actions.append(.metrics(metrics)) }
            actions.append(.peerHeartbeat(heartbeat.id))
            return actions
        case .probeReply(let reply):
            return [.probeReplied(id: reply.id)]
        case .linkReport(let report):
            return [.linkReport(report)]
        case .hello, .enroll:
            return [.close(.protocolError, reason: "already authenticated")]
        default:
            return [.close(.protocolError, reason: "'\(message.type)' is not something an agent sends")]
        }
    }

    /// The store write new reliable messages need: their command reports, in order.
    struct Batch: Equatable {
        let messages: [Reliable]
        /// The reports to record in one write.
        let reports: [CommandReport]
        /// For each message, the index of its report in `reports` (nil: no command report).
        let reportOf: [Int?]
    }

    /// The reports of `messages`, with output capped at `outputCap` bytes.
    static func batch(_ messages: [Reliable], outputCap: Int) -> Batch {
        var reports: [CommandReport] = []
        var reportOf: [Int?] = []
        for reliable in messages {
            if let report = CommandReports.report(for: reliable.message, outputCap: outputCap) {
                reportOf.append(reports.count)
                reports.append(report)
            } else {
                reportOf.append(nil)
            }
        }
        return Batch(messages: messages, reports: reports, reportOf: reportOf)
    }

    /// What a committed batch led to.
    struct Settlement: Equatable {
        /// In message order; perform them all.
        var actions: [Action] = []
        /// A command changed (wake the long-polls).
        var changed = false
        /// A message no agent sends ended it: the rest were not handled, and nothing more follows.
        var stopped = false
    }

    /// `batch`'s reports committed with `effects`, and its connection is still the current one:
    /// what follows from each message, in order; each seq is handled as it is settled.
    mutating func settle(_ batch: Batch, effects: [ReportEffect], agentId: String) -> Settlement {
        var settlement = Settlement()
        for (index, reliable) in batch.messages.enumerated() {
            let message = reliable.message
            if let position = batch.reportOf[index] {
                let followed = CommandReports.follow(message, effects[position], agentId: agentId)
                settlement.actions += followed.actions
                settlement.changed = followed.changed || settlement.changed
            } else if case .configApplied(let applied) = message {
                settlement.actions.append(.configApplied(version: applied.version))
            } else if let rejected = CommandReports.rejectedResult(message) {
                settlement.actions.append(.warn(rejected))
            } else {
                settlement.actions.append(.close(.protocolError, reason: "'\(message.type)' is not something an agent sends"))
                settlement.stopped = true
                return settlement
            }
            inbox.handled(reliable.seq)
        }
        settlement.actions.append(.oweAck)
        return settlement
    }

    /// Whether a batch's effects changed any command (they wake the long-polls even when the
    /// connection that sent them is gone).
    static func anyChanged(_ effects: [ReportEffect]) -> Bool {
        effects.contains { if case .changed = $0 { return true } else { return false } }
    }
}
