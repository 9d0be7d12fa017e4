import Foundation
import RMMAgent
import RMMProtocol
import RMMTransport

/// Everything one simulated agent keeps: the reliable streams and timers of its session (which,
/// as the real agent's `AgentCore`, outlive connections) and the connection of the moment.
struct SimAgentState {
    var agentId: String?
    var phase: SimPhase = .idle
    /// The welcomed connection, if any.
    var link: WebSocketLink?
    /// A connection still in its handshake, and when the ticker closes it for taking too long.
    var handshake: (link: WebSocketLink, deadline: Date)?
    var outbox = ReliableOutbox<Message>(stream: UUID().uuidString.lowercased())
    var inbox = ReliableInbox()
    var config = AgentConfig.defaults
    /// The newest config version applied (a replayed older one is refused, as by the agent).
    var appliedConfigVersion: Int?
    var timers = SessionTimers(connectedAt: .distantPast)
    var heartbeatCounter = 0
    var lastServerHeartbeat: Int?
    /// A handled reliable message was not acknowledged by anything sent since.
    var ackDirty = false
    /// The current connection sent the heartbeat echo that proves the downlink.
    var proven = false
    /// The ticker found data frames stopped while control frames arrived.
    var downlinkQuiet = false
    /// When this agent's next link report is due, as the real agent's reporter decides it.
    var reportRhythm = LinkReportRhythm(now: .distantFuture)
    /// A message cap the link policy imposes after a size blackhole, below the config's.
    var capOverride: Int?
    var seen = RecentIds(capacity: 256)
    /// Ids whose frames failed the signature check (only with `verifySignatures`); made on the
    /// first forgery, so an honest fleet pays nothing for it.
    private var forged: RecentIds?

    func forgedEarlier(_ commandId: String) -> Bool { forged?.contains(commandId) ?? false }

    mutating func rememberForged(_ commandId: String) {
        if forged == nil { forged = RecentIds(capacity: 256) }
        forged?.insert(commandId)
    }

    /// Envelopes held back by `sendingTogether`, written when its body returns.
    private var held: [Envelope]?

    /// Appends a reliable message and writes it if connected. Must run under the agent's lock, so
    /// that messages reach the socket in seq order (the server drops a seq lower than one it has).
    mutating func sendReliable(_ message: Message) {
        let seq = outbox.append(message)
        let envelope = Envelope(message, seq: seq, ack: inbox.lastSeq)
        if held != nil {
            held?.append(envelope)
        } else {
            link?.send(envelope)
        }
        ackDirty = false
    }

    /// Runs `body` and writes the reliable messages it sends in one go (one flush, one syscall): an
    /// instant answer's ack, start and result then reach the server in one read, as a fast real
    /// agent's would when the command is over before its ack left.
    mutating func sendingTogether<T>(_ body: (inout SimAgentState) -> T) -> T {
        held = []
        let value = body(&self)
        if let burst = held, !burst.isEmpty { link?.send(burst) }
        held = nil
        return value
    }

    /// A heartbeat echoing the server's latest heartbeat id, with the cumulative ack.
    mutating func sendHeartbeat(now: Date, metrics: HostMetrics?) -> Bool {
        heartbeatCounter += 1
        ackDirty = false
        let beat = Heartbeat(id: heartbeatCounter, echo: lastServerHeartbeat, time: now.timeIntervalSince1970, metrics: metrics)
        return link?.send(Envelope(.heartbeat(beat), ack: inbox.lastSeq)) != nil
    }
}
