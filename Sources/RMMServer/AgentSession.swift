import Foundation
import Logging
import RMMProtocol
import RMMStore
import RMMTransport

/// One agent's session on this server: it outlives connections. It owns the reliable outbox and
/// inbox, routes sends only to the connection of the newest epoch, and is the one place where an
/// agent's messages change command state. A session ends (for a connection) only in `detach`.
actor AgentSession {
    let agentId: String
    let store: any Store
    let feed: ChangeFeed
    private let settings: ServerSettings
    /// The server's logger; `logger` adds this agent's id. Built per use: a session logs rarely,
    /// and a stored copy with metadata cost about 470 bytes per agent.
    private let baseLogger: Logger
    var logger: Logger {
        var logger = baseLogger
        logger[metadataKey: "agent"] = "\(agentId)"
        return logger
    }

    var outbox: ReliableOutbox<OutboundItem>
    private var inbox = ReliableInbox()
    private var loaded = false
    /// Commands seen to be this agent's (checked once in the store, then remembered until their result).
    private var ownCommands = Set<String>()

    struct Connection {
        let link: WebSocketLink
        let epoch: Int
        let since: Date
        /// Highest seq written to this connection (everything after it is sent by the pump).
        var sentThrough: Int
        /// First heartbeat id sent on this connection: an echo at or above it proves the downlink.
        let firstHeartbeatId: Int
        var lastHeartbeatSent: Date
        var lastPingSent: Date
        /// When each unacknowledged seq was last written on this connection, and its size in bytes.
        var writtenAt: [Int: Date] = [:] {
            // Sizes are only read for seqs still in `writtenAt`: prune them with it (they piled up
            // with every command sent), and let an emptied table go.
            didSet {
                if writtenAt.isEmpty { writtenAt = [:] }
                if writtenBytes.count > writtenAt.count {
                    writtenBytes = writtenAt.isEmpty ? [:] : writtenBytes.filter { writtenAt[$0.key] != nil }
                }
            }
        }
        var writtenBytes: [Int: Int] = [:]
    }

    var connection: Connection?
    var config: AgentConfig
    private var heartbeatCounter = 0
    private var lastPeerHeartbeat: Int?
    private var pumping = false
    private var pumpAgain = false
    private var ackDirty = false
    var live = AgentLiveness()
    private var lastFlush = Date.distantPast
    private var lastCloseReason: String?
    private var everConnected = false

    // Link health (see LinkDiagnoser).
    @OutOfLine var agentReport: (report: LinkReport, at: Date)?
    var probeWaiters: [Int: CheckedContinuation<Double?, Never>] = [:]
    var probeSentAt: [Int: Date] = [:]
    var nextProbeId = 1
    var diagnosing = false
    @OutOfLine var lastDiagnosis: LinkDiagnosis?
    var lastAutoDiagnosis = Date.distantPast
    /// Message cap learned from a size-blackhole verdict; applies to every later connection.
    var messageCapOverride: Int?
    /// A size-blackhole verdict: the agent must connect with a clamped TCP MSS.
    var needsClampedMSS = false

    let signer: WorkSigner

    init(agentId: String, store: any Store, feed: ChangeFeed, settings: ServerSettings, config: AgentConfig, signer: WorkSigner, logger: Logger) {
        self.agentId = agentId
        self.signer = signer
        self.store = store
        self.feed = feed
        self.settings = settings
        self.config = config
        self.outbox = ReliableOutbox(stream: UUID().uuidString.lowercased())
        self.baseLogger = logger
    }

    // MARK: connection lifecycle

    /// Makes `link` the agent's only route. An older connection is closed as superseded; its late
    /// `detach` cannot touch the new one because epochs differ.
    func attach(link: WebSocketLink, epoch: Int, agentStream: String, peerSaw: StreamPosition?, now: Date) async {
        try? await loadIfNeeded()
        if let old = connection {
            logger.info("connection of epoch \(old.epoch) superseded by epoch \(epoch)")
            old.link.close(.superseded, reason: "superseded by a newer connection (epoch \(epoch))")
        }
        inbox.peerStream(agentStream)
        outbox.resume(peerSaw: peerSaw)
        heartbeatCounter += 1
        connection = Connection(
            link: link, epoch: epoch, since: now, sentThrough: outbox.acked,
            firstHeartbeatId: heartbeatCounter, lastHeartbeatSent: now, lastPingSent: now
        )
        everConnected = true
        agentReport = nil  // evidence belongs to one connection
        live.connectedSince = now
        live.lastSeenAt = now
        live.disconnectedAt = nil
        live.lastDownlinkAt = nil
        link.setMaxMessageBytes(min(config.maxMessageBytes, messageCapOverride ?? Int.max))
        let welcome = Welcome(
            agentId: agentId, epoch: epoch, stream: outbox.stream, received: inbox.position,
            heartbeatId: heartbeatCounter, config: config,
            configSignature: signer.signature(of: config, for: agentId), serverKey: signer.publicKey
        )
        link.send(Envelope(.welcome(welcome), ack: inbox.lastSeq))
        link.ping()
        logger.info("session attached", metadata: ["epoch": "\(epoch)", "remote": "\(link.remoteDescription)", "resend": "\(outbox.unacknowledged.count)"])
        await pump()
        await feed.bump()
    }

    /// The connection of `epoch` ended. Ignored if a newer connection already took over.
    func detach(epoch: Int, closure: LinkClosure, now: Date) async {
        guard let current = connection, current.epoch == epoch else { return }
        connection = nil
        lastCloseReason = closure.description
        live.disconnectedAt = now
        live.connectedSince = nil
        logger.info("session detached", metadata: ["epoch": "\(epoch)", "why": "\(closure)"])
        if closure.byPeer, let code = closure.code, [CloseCode.protocolError, .invalidPayload, .messageTooBig].contains(where: { $0.rawValue == code }) {
            await recordAgentReportedDesync(closure, epoch: epoch, now: now)
        }
        await flushLiveness(now: now, force: true)
        await feed.bump()
    }

    /// Closes the current connection on an operator's request; the agent reconnects and resumes.
    func evict(reason: String) -> Bool {
        guard let current = connection else { return false }
        current.link.close(.evicted, reason: reason)
        return true
    }

    /// Closes the current connection for good (revocation or shutdown).
    func close(_ code: CloseCode, reason: String) {
        connection?.link.close(code, reason: reason)
    }

    // MARK: work from the server

    /// Adds new commands to the outbox and sends what it can.
    func enqueue(_ commands: [CommandRecord]) async {
        try? await loadIfNeeded()
        for record in commands where !hasPending(record.id) {
            _ = outbox.append(.command(PendingCommand(record)))
        }
        await pump()
    }

    /// Asks the agent to cancel a delivered or running command (or to refuse it if it arrives later).
    func sendCancel(commandId: String, reason: String) async {
        outbox.remove { $0.commandId == commandId }
        _ = outbox.append(.cancel(Cancel(commandId: commandId, reason: reason)))
        await pump()
    }

    /// Drops an undelivered command from the outbox (it expired or was cancelled before delivery).
    func drop(commandId: String) {
        outbox.remove { $0.commandId == commandId }
    }

    /// Pushes a new config.
    func push(config newConfig: AgentConfig) async {
        config = newConfig
        outbox.remove { if case .config = $0 { return true } else { return false } }
        _ = outbox.append(.config(newConfig))
        await pump()
    }

    // MARK: inbound

    /// Handles one message from the connection of `epoch`, in arrival order.
    func handle(_ envelope: Envelope, epoch: Int, now: Date) async {
        guard let current = connection, current.epoch == epoch else { return }
        live.lastSeenAt = now
        if let ack = envelope.ack {
            let before = outbox.acked
            outbox.acknowledge(through: ack)
            if outbox.acked > before && ack > 0 {
                live.lastDownlinkAt = now
                let acked = outbox.acked
                if let written = connection?.writtenAt { connection?.writtenAt = written.filter { $0.key > acked } }
            }
        }
        let message = envelope.message
        if message.isReliable {
            guard let seq = envelope.seq else { return }
            guard inbox.isNew(seq) else {
                ackDirty = true
                return
            }
            do {
                try await apply(message, now: now)
                inbox.handled(seq)
                ackDirty = true
                if hasUnsent { await pump() }
            } catch let error as StoreError {
                // A message about a command this server does not know (e.g. its database was
                // replaced) can never succeed: log it and move on rather than ask for it forever.
                logger.warning("dropped \(message.type) seq \(seq): \(error)")
                inbox.handled(seq)
                ackDirty = true
            } catch {
                // Not recording the seq means the agent resends it after the next reconnect.
                logger.error("could not persist \(message.type) seq \(seq): \(error)")
                connection?.link.close(.internalError, reason: "server could not store your message; retry")
                return
            }
        } else {
            switch message {
            case .heartbeat(let heartbeat):
                if let echo = heartbeat.echo, echo >= current.firstHeartbeatId { live.lastDownlinkAt = now }
                if let metrics = heartbeat.metrics { live.metrics = metrics }
                lastPeerHeartbeat = heartbeat.id
            case .probeReply(let reply):
                let rtt = probeSentAt.removeValue(forKey: reply.id).map { now.timeIntervalSince($0) * 1000 }
                probeWaiters.removeValue(forKey: reply.id)?.resume(returning: rtt ?? 0)
            case .linkReport(let report):
                agentReport = (report, now)
            case .hello, .enroll:
                connection?.link.close(.protocolError, reason: "already authenticated")
            default:
                connection?.link.close(.protocolError, reason: "'\(message.type)' is not something an agent sends")
            }
        }
    }

    private func apply(_ message: Message, now: Date) async throws {
        // An agent may only report on its own commands: a malicious agent must not be able to
        // complete, fail or write output into another agent's work.
        if let commandId = message.reportedCommandId, !ownCommands.contains(commandId) {
            guard let record = try await store.command(id: commandId), record.agentId == agentId else {
                logger.warning("agent \(agentId) reported on command \(commandId), which is not its own; ignored")
                return
            }
            ownCommands.insert(commandId)
        }
        if case .result(let result) = message { ownCommands.remove(result.commandId) }
        switch message {
        case .commandAck(let ack):
            if let record = try await store.transition(commandId: ack.commandId, to: .delivered, reason: ack.duplicate ? "agent already had it (retransmission)" : nil, now: now) {
                _ = record
                await feed.bump()
            } else if let record = try await store.command(id: ack.commandId), record.state.isTerminal, !ack.duplicate,
                      record.state == .expired || record.state == .cancelled {
                // The agent took a command the server had already given up on: make it stand down.
                logger.warning("agent acknowledged \(ack.commandId) after it ended \(record.state.rawValue); sending cancel")
                _ = outbox.append(.cancel(Cancel(commandId: ack.commandId, reason: "command had already \(record.state.rawValue) on the server")))
            }
        case .started(let started):
            if try await store.transition(commandId: started.commandId, to: .running, reason: started.pid.map { "pid \($0)" }, now: now) != nil {
                await feed.bump()
            }
        case .output(let output):
            if try await store.appendOutput(commandId: output.commandId, stream: output.stream, offset: output.offset, data: output.data, cap: config.outputCapBytes) {
                await feed.bump()
            }
        case .result(let result):
            let outcome = CommandOutcome(
                state: result.status, reason: result.reason, exitCode: result.exitCode, signal: result.signal,
                stdout: result.stdout, stderr: result.stderr,
                stdoutTruncated: result.stdoutTruncated, stderrTruncated: result.stderrTruncated
            )
            guard result.status.isTerminal, result.status != .expired else {
                logger.warning("agent reported non-terminal status \(result.status.rawValue) as a result; ignored")
                return
            }
            if result.status == .rejected {
                // Includes refused signatures: a path that altered work shows up here, on both sides.
                logger.warning("agent rejected command \(result.commandId): \(result.reason ?? "no reason given")")
            }
            if try await store.finish(commandId: result.commandId, outcome: outcome, now: now) != nil {
                await feed.bump()
            } else if let record = try await store.command(id: result.commandId), record.state != result.status {
                logger.warning("late result for \(result.commandId): agent says \(result.status.rawValue), server already recorded \(record.state.rawValue)")
            }
        case .configApplied(let applied):
            live.configVersionApplied = applied.version
        default:
            connection?.link.close(.protocolError, reason: "'\(message.type)' is not something an agent sends")
        }
    }

    // MARK: sending

    /// Sends everything in the outbox that this connection has not carried yet, strictly in seq order.
    /// Only one pump runs at a time, so an enqueue during a resend can never overtake older items.
    private func pump() async {
        if pumping {
            pumpAgain = true
            return
        }
        pumping = true
        defer { pumping = false }
        repeat {
            pumpAgain = false
            while let current = connection,
                  let next = outbox.unacknowledged.first(where: { $0.seq > current.sentThrough }) {
                let step = await prepare(next.item, epoch: current.epoch)
                guard let now = connection, now.epoch == current.epoch else { break }
                switch step {
                case .send(let message):
                    let bytes = now.link.send(Envelope(message, seq: next.seq, ack: inbox.lastSeq))
                    connection?.writtenAt[next.seq] = Date()
                    connection?.writtenBytes[next.seq] = bytes ?? 0
                    ackDirty = false
                case .drop:
                    outbox.remove { $0.commandId != nil && $0.commandId == next.item.commandId }
                case .retryLater:
                    // The store failed: keep the item and its place; the next tick pumps again.
                    return
                }
                connection?.sentThrough = next.seq
            }
        } while pumpAgain
    }

    /// What to do with the next outbox item.
    private enum PumpStep {
        case send(Message)
        /// It must not be sent any more (the command ended meanwhile).
        case drop
        /// The store could not record `sent`: try again later, never write it unrecorded.
        case retryLater
    }

    /// Persists `sent` for a command before it is written.
    private func prepare(_ item: OutboundItem, epoch: Int) async -> PumpStep {
        let now = Date()
        switch item {
        case .command(let pending):
            do {
                guard try await store.transition(commandId: pending.id, to: .sent, reason: "epoch \(epoch)", now: now) != nil else {
                    return .drop
                }
                await feed.bump()
                return .send(.command(signer.signed(pending.spec(now: now), for: agentId)))
            } catch StoreError.notFound {
                return .drop
            } catch {
                logger.error("could not mark \(pending.id) sent: \(error); will retry")
                return .retryLater
            }
        case .cancel(let cancel):
            return .send(.cancel(cancel))
        case .config(let config):
            return .send(.configUpdate(ConfigUpdate(config: config, signature: signer.signature(of: config, for: agentId))))
        }
    }

    /// True when the outbox holds items this connection has not carried yet.
    private var hasUnsent: Bool {
        guard let current = connection else { return false }
        return outbox.unacknowledged.contains { $0.seq > current.sentThrough }
    }

    // MARK: timers

    /// Periodic duties: heartbeats, pings, the inbound deadline, retransmission, liveness flushes.
    func tick(now: Date) async {
        if var current = connection {
            let counters = current.link.counters
            let lastIn = counters.lastDataIn.map { Date(timeIntervalSince1970: $0) } ?? current.since
            if now.timeIntervalSince(lastIn) > config.heartbeatDeadline {
                current.link.close(.deadlineExpired, reason: "no data frame from agent for \(Int(config.heartbeatDeadline)) s")
            } else {
                if now.timeIntervalSince(current.lastHeartbeatSent) >= config.heartbeatInterval || ackDirty {
                    sendHeartbeat(now: now)
                    current.lastHeartbeatSent = now
                }
                if now.timeIntervalSince(current.lastPingSent) >= config.pingInterval {
                    current.link.ping()
                    current.lastPingSent = now
                }
                if let rtt = counters.lastPongRttMs { live.lastPongRttMs = rtt }
                if hasUnsent { await pump() }
                connection?.lastHeartbeatSent = current.lastHeartbeatSent
                connection?.lastPingSent = current.lastPingSent
                // A command unacknowledged past the ack deadline: find out why, automatically.
                if let overdue = overdueCommand(now: now), !diagnosing,
                   now.timeIntervalSince(lastAutoDiagnosis) >= max(2 * config.ackDeadline, 10) {
                    lastAutoDiagnosis = now
                    let trigger = "auto: command \(overdue.id) unacknowledged for \(Int(overdue.age)) s"
                    Task { _ = await LinkDiagnoser(session: self).run(trigger: trigger) }
                }
                // Unacknowledged past the ack deadline: write it again on this connection. Harmless
                // (the agent drops duplicates by seq) and it rescues a message lost above TCP.
                if let oldest = outbox.unacknowledged.first, oldest.seq <= current.sentThrough,
                   let written = current.writtenAt[oldest.seq], now.timeIntervalSince(written) >= config.ackDeadline {
                    let acked = outbox.acked
                    connection?.writtenAt = current.writtenAt.filter { $0.key > acked }
                    connection?.sentThrough = outbox.acked
                    logger.notice("retransmitting \(outbox.unacknowledged.count) unacknowledged message(s)")
                    await pump()
                }
            }
        }
        await flushLiveness(now: now, force: false)
    }

    private func sendHeartbeat(now: Date) {
        guard let current = connection else { return }
        heartbeatCounter += 1
        ackDirty = false
        current.link.send(Envelope(.heartbeat(Heartbeat(id: heartbeatCounter, echo: lastPeerHeartbeat, time: now.timeIntervalSince1970)), ack: inbox.lastSeq))
    }

    private func flushLiveness(now: Date, force: Bool) async {
        guard force || now.timeIntervalSince(lastFlush) >= settings.livenessFlushInterval else { return }
        lastFlush = now
        do {
            try await store.saveLiveness(agentId: agentId, live)
        } catch {
            logger.warning("could not save liveness: \(error)")
        }
    }

    // MARK: state for operators

    func snapshot() -> SessionSnapshot {
        SessionSnapshot(
            connected: connection != nil, epoch: connection?.epoch, connectedSince: connection?.since,
            lastSeenAt: live.lastSeenAt, lastDownlinkAt: live.lastDownlinkAt, disconnectedAt: live.disconnectedAt,
            configVersionApplied: live.configVersionApplied,
            lastPongRttMs: connection?.link.counters.lastPongRttMs ?? live.lastPongRttMs,
            pendingOutbound: outbox.unacknowledged.count, remoteAddress: connection?.link.remoteDescription,
            lastCloseReason: lastCloseReason, metrics: live.metrics, downlinkMode: connection?.link.sendMode
        )
    }

    /// Why a command never got delivered, in words for its `expired` reason.
    func undeliveredReason(for record: CommandRecord, now: Date) -> String {
        let verdict = lastDiagnosis.map { "; link verdict \($0.verdict.rawValue): \($0.summary)" } ?? ""
        return undeliveredCause(for: record) + verdict
    }

    private func undeliveredCause(for record: CommandRecord) -> String {
        let format = ISO8601DateFormatter()
        if let current = connection {
            let proof = live.lastDownlinkAt.map { "downlink last proven \(format.string(from: $0))" } ?? "downlink never proven on this connection"
            return "not acknowledged before expiry: agent connected since \(format.string(from: current.since)) (epoch \(current.epoch)) but \(proof); last state \(record.state.rawValue)"
        }
        if let since = live.disconnectedAt {
            let why = lastCloseReason.map { " (\($0))" } ?? ""
            return "not delivered before expiry: agent offline since \(format.string(from: since))\(why)"
        }
        return everConnected ? "not delivered before expiry: agent offline" : "not delivered before expiry: agent has not connected since the server started"
    }

    // MARK: helpers

    private func hasPending(_ commandId: String) -> Bool {
        outbox.unacknowledged.contains { $0.item.commandId == commandId }
    }

    /// On first use after a server start, the outbox is rebuilt from the store: everything queued or
    /// sent but never acknowledged goes out again (the agent's journal drops what it already has).
    private func loadIfNeeded() async throws {
        guard !loaded else { return }
        loaded = true
        do {
            let pending = try await store.undeliveredCommands(agentId: agentId)
            for record in pending where !hasPending(record.id) {
                _ = outbox.append(.command(PendingCommand(record)))
            }
        } catch {
            loaded = false
            throw error
        }
    }
}
