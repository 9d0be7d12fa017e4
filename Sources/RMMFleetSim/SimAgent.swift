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
            let check = WorkCheck.config(welcome.config, signature: welcome.configSignature, at: WorkVerifier.welcomePosition(stream: welcome.stream),
                                         appliedVersion: state.appliedConfigVersion, verifier: verifier(state, fleet: fleet), verify: fleet.options.verifySignatures)
            switch ConfigAdmission.decide(check) {
            case .apply: applyConfig(&state, welcome.config, fleet: fleet)
            case .stale(let why), .forged(let why): fleet.logger.error("\(name) refused config version \(welcome.config.version): \(why)")
            }
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

    /// What the shared admission decided about one reliable message.
    private enum Decision {
        case command(CommandSpec, CommandAdmission.Verdict)
        case cancel(Cancel, CancelAdmission.Verdict)
        case config(AgentConfig, ConfigAdmission.Verdict)
        case other

        /// Why the frame is not what the server signed; nil when genuine.
        var forgery: String? {
            switch self {
            case .command(_, .forged(let why, _, _)), .cancel(_, .forged(let why)), .config(_, .forged(let why)): return why
            default: return nil
            }
        }
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
                let decision = decide(message, at: position, state: state, fleet: fleet)
                if let forged = decision.forgery {
                    fleet.logger.error("\(name) refused \(message.type) seq \(seq): \(forged)")
                    if case .command(let spec, .forged(let why, let remember, let report)) = decision {
                        if remember { state.rememberForged(spec.commandId) }
                        if report {
                            sendResult(&state, CommandResult(commandId: spec.commandId, status: .rejected, reason: why,
                                                             finishedAt: Date().timeIntervalSince1970), fleet: fleet)
                        }
                    }
                    return nil
                }
                // Handled first: nothing here can fail, and what the handling sends then carries the ack.
                state.inbox.handled(seq)
                let sentBefore = state.outbox.lastSeq
                let deferred = state.sendingTogether { carryOut(&$0, decision, message: message, from: link, fleet: fleet) }
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

    /// How this agent checks signed work: with `verifySignatures`, the pinned key (nil: none
    /// pinned, so nothing verifies); without, nothing is checked but deadlines and versions.
    private func verifier(_ state: SimAgentState, fleet: SimFleet) -> WorkVerifier? {
        guard fleet.options.verifySignatures, let agentId = state.agentId, let serverKey = fleet.expectedServerKey else { return nil }
        return WorkVerifier(agentId: agentId, serverKey: serverKey)
    }

    /// The agent's own decisions (`CommandAdmission`, `CancelAdmission`, `ConfigAdmission`), with
    /// the ids this agent answered standing in for the agent's journal.
    private func decide(_ message: Message, at position: StreamPosition, state: SimAgentState, fleet: SimFleet) -> Decision {
        let verify = fleet.options.verifySignatures
        let verifier = self.verifier(state, fleet: fleet)
        switch message {
        case .command(let spec):
            let check = WorkCheck.command(spec, at: position, verifier: verifier, verify: verify, now: Date().timeIntervalSince1970)
            return .command(spec, CommandAdmission.decide(check, held: state.seen.contains(spec.commandId), forgedEarlier: state.forgedEarlier(spec.commandId)))
        case .cancel(let cancel):
            let check = WorkCheck.cancel(cancel, at: position, verifier: verifier, verify: verify)
            // Without a journal, an answered command counts as running only when it was forked.
            let standing: CancelAdmission.Standing = state.seen.contains(cancel.commandId) ? (fleet.fork == nil ? .finished : .active) : .unknown
            return .cancel(cancel, CancelAdmission.decide(check, cancel: cancel, standing: standing, now: Date().timeIntervalSince1970))
        case .configUpdate(let update):
            let check = WorkCheck.config(update.config, signature: update.signature, at: position, appliedVersion: state.appliedConfigVersion,
                                         verifier: verifier, verify: verify)
            return .config(update.config, ConfigAdmission.decide(check))
        default:
            return .other
        }
    }

    /// Carries out a genuine frame's decision; returns the work that has to leave the lock.
    private func carryOut(_ state: inout SimAgentState, _ decision: Decision, message: Message, from link: WebSocketLink, fleet: SimFleet) -> Deferred? {
        switch decision {
        case .command(let spec, let verdict):
            return accept(&state, spec, verdict: verdict, fleet: fleet)
        case .cancel(let cancel, let verdict):
            fleet.counters.update { $0.cancelsReceived += 1 }
            switch verdict {
            case .cancelBeforeArrival(let reason, _):
                // Remembered so a late copy is never run.
                state.seen.insert(cancel.commandId)
                sendResult(&state, CommandResult(commandId: cancel.commandId, status: .cancelled, reason: reason,
                                                 finishedAt: Date().timeIntervalSince1970), fleet: fleet)
                return nil
            case .stop:
                return .cancel(commandId: cancel.commandId, reason: cancel.reason)
            case .nothing, .forged:
                return nil
            }
        case .config(let config, let verdict):
            switch verdict {
            case .apply: applyConfig(&state, config, fleet: fleet)
            case .stale(let why), .forged(let why): fleet.logger.error("\(name) refused config version \(config.version): \(why)")
            }
            return nil
        case .other:
            link.close(.protocolError, reason: "'\(message.type)' is not something a server sends")
            return nil
        }
    }

    /// Ack, then answer: at once with `started` and a `succeeded` result, or (fork) by running it.
    private func accept(_ state: inout SimAgentState, _ spec: CommandSpec, verdict: CommandAdmission.Verdict, fleet: SimFleet) -> Deferred? {
        switch verdict {
        case .duplicate:
            fleet.counters.update { $0.duplicates += 1 }
            state.sendReliable(.commandAck(CommandAck(commandId: spec.commandId, duplicate: true)))
            return nil
        case .reject(let why):
            fleet.counters.update { $0.commandsReceived += 1 }
            sendResult(&state, CommandResult(commandId: spec.commandId, status: .rejected, reason: why, finishedAt: Date().timeIntervalSince1970), fleet: fleet)
            return nil
        case .forged:
            return nil
        case .admit:
            break
        }
        state.seen.insert(spec.commandId)
        fleet.counters.update { $0.commandsReceived += 1 }
        state.sendReliable(.commandAck(CommandAck(commandId: spec.commandId, duplicate: false)))
        if fleet.fork != nil { return .run(spec) }
        let now = Date().timeIntervalSince1970
        state.sendReliable(.started(CommandStarted(commandId: spec.commandId, pid: nil, time: now)))
        sendResult(&state, CommandResult(commandId: spec.commandId, status: .succeeded, exitCode: 0,
                                         stdout: Data(fleet.options.simulatedOutput.utf8), startedAt: now,
                                         finishedAt: Date().timeIntervalSince1970), fleet: fleet)
        return nil
    }

    /// Applies a config the admission let through (`ConfigAdmission`) and confirms its version.
    private func applyConfig(_ state: inout SimAgentState, _ config: AgentConfig, fleet: SimFleet) {
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
                let writes = SessionTimers.writes(heartbeat: heartbeat, metrics: metricsDue, ping: ping, ackOwed: state.ackDirty, sendMode: link.sendMode)
                if writes.ping { link.ping(flush: writes.flushPing) }
                if writes.heartbeat {
                    if state.sendHeartbeat(now: now, metrics: writes.metrics ? metrics : nil) { sent = 1 }
                }
                let interval = state.config.heartbeatInterval
                let report = state.reportRhythm.due(counters: counters, heartbeatInterval: interval, now: now, policy: policy)
                if report { state.reportRhythm.sent(counters: counters, heartbeatInterval: interval, now: now) }
                schedule(min(state.timers.nextDue(counters: counters, config: state.config),
                             state.reportRhythm.nextCheck(counters: counters, heartbeatInterval: interval, now: now)))
                return (report ? link : nil, sent)
            }
        }
        if heartbeats > 0 { fleet.counters.update { $0.heartbeatsSent += heartbeats } }
        return link
    }
}
