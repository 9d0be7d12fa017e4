import Crypto
import Foundation
import RMMAgent
import RMMProtocol
import RMMTransport
import Synchronization

/// One simulated agent: a small state behind a lock, touched by its own task (handshake and
/// server messages), the fleet's ticker (heartbeats, pings, deadlines, link reports) and, with
/// `fork`, the process runner (results). On the wire it does what `AgentCore` does; commands are
/// answered at once instead of run, and nothing is journaled.
final class SimAgent: Sendable {
    let index: Int
    let name: String
    /// The raw Ed25519 private key (the key type itself is not Sendable; it is made per handshake).
    private let rawKey: Data
    /// The local address this agent connects from (nil: the OS picks), and the gate of an address
    /// it shares with other agents.
    let sourceAddress: String?
    let addressGate: ConnectGate?
    /// Downlink mode and packet limits learned from closes, and recent reconnects (for link reports).
    let policy = LinkPolicy()
    private let state: Mutex<SimAgentState>
    /// When the ticker must next visit (Unix milliseconds), so that a sweep over the fleet reads
    /// one atomic per agent and does work only where something is due. Written under `state`'s lock.
    private let due = Atomic<Int64>(.max)

    init(index: Int, record: SimAgentRecord, sourceAddress: String?, addressGate: ConnectGate?) throws {
        self.index = index
        self.name = record.name
        guard let raw = Data(base64Encoded: record.privateKey) else { throw SimError.badState("agent \(record.name): private key is not base64") }
        _ = try Curve25519.Signing.PrivateKey(rawRepresentation: raw)
        self.rawKey = raw
        self.sourceAddress = sourceAddress
        self.addressGate = addressGate
        var initial = SimAgentState()
        initial.agentId = record.agentId
        state = Mutex(initial)
    }

    var agentId: String? { state.withLock { $0.agentId } }

    func signingKey() throws -> Curve25519.Signing.PrivateKey {
        try Curve25519.Signing.PrivateKey(rawRepresentation: rawKey)
    }

    /// Moves this agent's gauge; only the agent's own task calls it.
    func setPhase(_ phase: SimPhase, counters: FleetCounters) {
        let old = state.withLock { state -> SimPhase in
            defer { state.phase = phase }
            return state.phase
        }
        counters.move(from: old, to: phase)
    }

    // MARK: connection

    /// What the agent tells the server about its streams when it says hello.
    func helloState() -> (stream: String, received: StreamPosition?) {
        state.withLock { ($0.outbox.stream, $0.inbox.position) }
    }

    /// A connection is up and its handshake starts; the ticker closes it past `deadline`.
    func beginHandshake(_ link: WebSocketLink, deadline: Date) {
        state.withLock { state in
            state.handshake = (link, deadline)
            schedule(deadline)
        }
    }

    /// The handshake ended without a welcome.
    func endHandshake() {
        state.withLock { state in
            state.handshake = nil
            schedule(nil)
        }
    }

    /// True when the ticker has something to do for this agent at `nowMilliseconds`.
    func isDue(_ nowMilliseconds: Int64) -> Bool {
        due.load(ordering: .relaxed) <= nowMilliseconds
    }

    /// Sets the next visit (nil: none until something changes). Call under `state`'s lock.
    private func schedule(_ date: Date?) {
        due.store(date.map { Int64(($0.timeIntervalSince1970 * 1000).rounded(.down)) } ?? .max, ordering: .relaxed)
    }

    /// A connection was welcomed: adopt it, resend everything unacknowledged, apply the config,
    /// echo the welcome's heartbeat (the downlink proof), ping. As `AgentCore.attach`.
    func attach(_ link: WebSocketLink, welcome: Welcome, capOverride: Int?, fleet: SimFleet, now: Date) {
        let proven = state.withLock { state -> Bool in
            state.handshake = nil
            state.agentId = welcome.agentId
            state.link = link
            state.capOverride = capOverride
            state.timers = SessionTimers(connectedAt: now)
            state.inbox.peerStream(welcome.stream)
            state.outbox.resume(peerSaw: welcome.received)
            state.lastServerHeartbeat = welcome.heartbeatId
            state.downlinkQuiet = false
            // Resend what the server has not acknowledged before anything new: the server takes
            // seqs in increasing order only.
            for item in state.outbox.unacknowledged {
                link.send(Envelope(item.item, seq: item.seq, ack: state.inbox.lastSeq))
            }
            applyConfig(&state, welcome.config, signature: welcome.configSignature, at: WorkVerifier.welcomePosition(stream: welcome.stream), fleet: fleet)
            state.proven = state.sendHeartbeat(now: now, metrics: nil)
            link.ping()
            // The real agent's reporter sends its first link report at once, and its ticker sends a
            // heartbeat with metrics on its first turn.
            state.reportRhythm = LinkReportRhythm(now: now)
            schedule(now)
            return state.proven
        }
        fleet.counters.update {
            $0.welcomes += 1
            $0.heartbeatsSent += 1
            if proven { $0.downlinkProven += 1 }
        }
    }

    /// The connection ended; returns whether its data frames had gone quiet while control frames arrived.
    func detach(_ link: WebSocketLink, counters: FleetCounters) -> Bool {
        let (quiet, wasProven) = state.withLock { state -> (Bool, Bool) in
            guard state.link === link else { return (false, false) }
            state.link = nil
            schedule(nil)
            defer { state.proven = false }
            return (state.downlinkQuiet, state.proven)
        }
        if wasProven { counters.update { $0.downlinkProven -= 1 } }
        return quiet
    }

    /// Closes the connection as an agent that shuts down does (1001).
    func shutDown() {
        state.withLock { state in
            state.link?.close(.goingAway, reason: "agent shutting down")
            state.handshake?.link.abort()
        }
    }

    /// True while a connection of this agent is still open (for the bounded wait at shutdown).
    var hasOpenConnection: Bool {
        state.withLock { ($0.link?.isOpen ?? false) || ($0.handshake?.link.isOpen ?? false) }
    }

    // MARK: server messages

    /// Work that has to leave the lock (the process runner is an actor).
    private enum Deferred {
        case run(CommandSpec)
        case cancel(commandId: String, reason: String)
    }

    /// Handles one server message, in arrival order, as `AgentCore.handle`.
    func handle(_ envelope: Envelope, from link: WebSocketLink, fleet: SimFleet) async {
        let deferred = state.withLock { state -> Deferred? in
            guard state.link === link else { return nil }
            if let ack = envelope.ack { state.outbox.acknowledge(through: ack) }
            let message = envelope.message
            if message.isReliable {
                guard let seq = envelope.seq else { return nil }
                guard state.inbox.isNew(seq) else {
                    state.ackDirty = true
                    schedule(Date())
                    fleet.counters.update { $0.duplicates += 1 }
                    return nil
                }
                // As the agent: a frame that fails its signature check leaves no trace but its
                // refusal, and does not move the receive position.
                let position = StreamPosition(stream: state.inbox.stream ?? "", seq: seq)
                if let forged = forgery(in: message, at: position, state: state, fleet: fleet) {
                    fleet.logger.error("\(name) refused \(message.type) seq \(seq): \(forged)")
                    if case .command(let spec) = message {
                        sendResult(&state, CommandResult(commandId: spec.commandId, status: .rejected, reason: forged,
                                                         finishedAt: Date().timeIntervalSince1970), fleet: fleet)
                    }
                    return nil
                }
                // Handled first: nothing here can fail, and what the handling sends then carries the ack.
                state.inbox.handled(seq)
                let sentBefore = state.outbox.lastSeq
                let deferred = state.sendingTogether { apply(&$0, message, from: link, fleet: fleet) }
                if state.outbox.lastSeq == sentBefore {
                    // Owed: an ack, sent with a heartbeat on the ticker's next turn.
                    state.ackDirty = true
                    schedule(Date())
                }
                return deferred
            }
            if let heartbeat = UnsequencedMessage.handle(message, on: link) { state.lastServerHeartbeat = heartbeat }
            return nil
        }
        switch deferred {
        case .run(let spec)?:
            if let fork = fleet.fork, let refusal = await fork.submit(spec, for: self) {
                finish(CommandResult(commandId: spec.commandId, status: .rejected, reason: refusal, finishedAt: Date().timeIntervalSince1970), fleet: fleet)
            }
        case .cancel(let commandId, let reason)?:
            await fleet.fork?.cancel(commandId: commandId, reason: reason)
        case nil:
            break
        }
    }

    private func apply(_ state: inout SimAgentState, _ message: Message, from link: WebSocketLink, fleet: SimFleet) -> Deferred? {
        switch message {
        case .command(let spec):
            return accept(&state, spec, fleet: fleet)
        case .cancel(let cancel):
            fleet.counters.update { $0.cancelsReceived += 1 }
            guard state.seen.contains(cancel.commandId) else {
                // Cancelled before it arrived: remember the id so a late copy is never run.
                state.seen.insert(cancel.commandId)
                sendResult(&state, CommandResult(commandId: cancel.commandId, status: .cancelled,
                                                 reason: "cancelled before it reached the agent: \(cancel.reason)",
                                                 finishedAt: Date().timeIntervalSince1970), fleet: fleet)
                return nil
            }
            return fleet.fork == nil ? nil : .cancel(commandId: cancel.commandId, reason: cancel.reason)
        case .configUpdate(let update):
            // Its signature was checked before the position moved (`forgery`); the version still is.
            applyConfig(&state, update.config, signature: nil, at: nil, fleet: fleet)
            return nil
        default:
            link.close(.protocolError, reason: "'\(message.type)' is not something a server sends")
            return nil
        }
    }

    /// Ack, then answer: at once with `started` and a `succeeded` result, or (fork) by running it.
    private func accept(_ state: inout SimAgentState, _ spec: CommandSpec, fleet: SimFleet) -> Deferred? {
        guard !state.seen.contains(spec.commandId) else {
            fleet.counters.update { $0.duplicates += 1 }
            state.sendReliable(.commandAck(CommandAck(commandId: spec.commandId, duplicate: true)))
            return nil
        }
        state.seen.insert(spec.commandId)
        fleet.counters.update { $0.commandsReceived += 1 }
        state.sendReliable(.commandAck(CommandAck(commandId: spec.commandId, duplicate: false)))
        let now = Date().timeIntervalSince1970
        if now > Double(spec.expiresAt) + WorkLimits.clockSkewSeconds {
            sendResult(&state, CommandResult(commandId: spec.commandId, status: .rejected, reason: "its signed start deadline has passed", finishedAt: now), fleet: fleet)
            return nil
        }
        if fleet.fork != nil { return .run(spec) }
        state.sendReliable(.started(CommandStarted(commandId: spec.commandId, pid: nil, time: now)))
        sendResult(&state, CommandResult(commandId: spec.commandId, status: .succeeded, exitCode: 0,
                                         stdout: Data(fleet.options.simulatedOutput.utf8), startedAt: now,
                                         finishedAt: Date().timeIntervalSince1970), fleet: fleet)
        return nil
    }

    /// With `verifySignatures`, why a frame is not what the server signed for this place in its
    /// stream (as `AgentCore` decides with `WorkVerifier`); nil when genuine or not checked.
    private func forgery(in message: Message, at position: StreamPosition, state: SimAgentState, fleet: SimFleet) -> String? {
        guard fleet.options.verifySignatures else { return nil }
        guard let agentId = state.agentId, let serverKey = fleet.expectedServerKey else { return "no pinned server key" }
        let verifier = WorkVerifier(agentId: agentId, serverKey: serverKey)
        let refusal: WorkRefusal?
        switch message {
        case .command(let spec): refusal = verifier.refusal(spec, at: position, now: Date().timeIntervalSince1970)
        case .cancel(let cancel): refusal = verifier.refusal(cancel, at: position)
        case .configUpdate(let update): refusal = verifier.refusal(update.config, signature: update.signature, at: position, appliedVersion: nil)
        default: refusal = nil
        }
        if case .forged(let why)? = refusal { return why }
        return nil
    }

    /// Applies a config (with `verifySignatures`, only one the pinned server key signed for this
    /// agent and no older than the one in force) and confirms its version.
    /// `position` is where a signature is still to be checked; nil when `forgery` checked it already.
    private func applyConfig(_ state: inout SimAgentState, _ config: AgentConfig, signature: String?, at position: StreamPosition?, fleet: SimFleet) {
        if fleet.options.verifySignatures, let agentId = state.agentId, let serverKey = fleet.expectedServerKey {
            let refusal: WorkRefusal?
            if let position {
                refusal = WorkVerifier(agentId: agentId, serverKey: serverKey)
                    .refusal(config, signature: signature, at: position, appliedVersion: state.appliedConfigVersion)
            } else {
                refusal = WorkVerifier.staleness(of: config, appliedVersion: state.appliedConfigVersion)
            }
            if let refusal {
                fleet.logger.error("\(name) refused config version \(config.version): \(refusal)")
                return
            }
        }
        state.appliedConfigVersion = max(state.appliedConfigVersion ?? config.version, config.version)
        state.config = config
        // New intervals: the ticker recomputes this agent's next visit at once.
        schedule(Date())
        state.link?.setMaxMessageBytes(min(config.maxMessageBytes, state.capOverride ?? Int.max))
        state.sendReliable(.configApplied(ConfigApplied(version: config.version)))
        fleet.counters.update { $0.configsApplied += 1 }
        fleet.fork?.adopt(config)
    }

    private func sendResult(_ state: inout SimAgentState, _ result: CommandResult, fleet: SimFleet) {
        state.sendReliable(.result(result))
        fleet.counters.update {
            $0.resultsSent += 1
            if result.status == .rejected { $0.rejected += 1 }
        }
    }

    // MARK: process runner events (fork)

    /// A forked command started or printed something.
    func forward(_ message: Message) {
        state.withLock { $0.sendReliable(message) }
    }

    /// A forked command ended.
    func finish(_ result: CommandResult, fleet: SimFleet) {
        state.withLock { sendResult(&$0, result, fleet: fleet) }
    }

    // MARK: timers

    /// The ticker's visit, as `AgentCore.tick` plus the reporter's pacing: the handshake and data
    /// deadlines, heartbeats (with metrics every interval, or sooner when an ack is owed), pings.
    /// Returns the link when a link report is due (sent by the ticker, outside the lock).
    func tick(now: Date, metrics: HostMetrics?, fleet: SimFleet) -> WebSocketLink? {
        let (link, heartbeats) = state.withLock { state -> (WebSocketLink?, Int) in
            if let handshake = state.handshake {
                if now > handshake.deadline {
                    state.handshake = nil
                    schedule(nil)
                    handshake.link.close(.handshakeTimeout, reason: "no challenge/welcome from server within \(Int(fleet.options.handshakeTimeout)) s")
                }
                return (nil, 0)
            }
            guard let link = state.link, link.closure == nil else {
                schedule(nil)
                return (nil, 0)
            }
            let counters = link.counters
            switch state.timers.tick(now: now, counters: counters, config: state.config) {
            case .expired(let controlAlive, let reason):
                state.downlinkQuiet = controlAlive
                schedule(nil)
                link.close(.deadlineExpired, reason: reason)
                return (nil, 0)
            case .duties(let heartbeat, let metricsDue, let ping):
                var sent = 0
                let heartbeatDue = heartbeat || state.ackDirty
                // As the real agent: a ping due with a heartbeat rides the heartbeat's flush.
                if ping { link.ping(flush: !(heartbeatDue && link.sendMode != .poll)) }
                if heartbeatDue {
                    if state.sendHeartbeat(now: now, metrics: metricsDue ? metrics : nil) { sent = 1 }
                }
                let interval = state.config.heartbeatInterval
                let report = state.reportRhythm.due(counters: counters, heartbeatInterval: interval, now: now, policy: policy)
                if report { state.reportRhythm.sent(counters: counters, heartbeatInterval: interval, now: now) }
                schedule(min(state.timers.nextDue(counters: counters, config: state.config),
                             state.reportRhythm.nextCheck(counters: counters, heartbeatInterval: interval)))
                return (report ? link : nil, sent)
            }
        }
        if heartbeats > 0 { fleet.counters.update { $0.heartbeatsSent += heartbeats } }
        return link
    }
}
