import Foundation
import Logging
import RMMAPI
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
        /// Routine heartbeats the link took on the event loop (see `absorbHeartbeats`).
        let heartbeats: HeartbeatMailbox
    }

    /// Set only in `attach` and `detach`, which keep `liveEpoch` in step. (No observer here: one
    /// would copy the connection, and its tables, at every in-place change.)
    var connection: Connection?
    /// The live connection's epoch, for readers off the actor (see `LiveEpoch`).
    nonisolated let liveEpoch = LiveEpoch()
    /// Commands stored as `sent` on a connection (epoch) when they were created: the first write
    /// on that connection needs no store write of its own (see `prepare`).
    private var recordedSent: [String: Int] = [:]
    var config: AgentConfig
    private var heartbeatCounter = 0
    private var lastPeerHeartbeat: Int?
    private var pumping = false {
        // A pump that ends leaves writes awaiting acks, or items it could not send (the store
        // failed, retried at the next tick): file the session under whichever is due first.
        didSet { if !pumping { scheduleWake(now: Date()) } }
    }
    private var pumpAgain = false
    private var ackDirty = false {
        // The ack rides on the heartbeat the next tick sends.
        didSet { if ackDirty { scheduleSoon() } }
    }
    private var storedLive = AgentLiveness()
    /// The agent's liveness, with the heartbeats the link took since folded in first.
    var live: AgentLiveness {
        get {
            absorbHeartbeats()
            return storedLive
        }
        set { storedLive = newValue }
    }
    private var lastFlush = Date.distantPast
    private var lastCloseReason: String?
    private var everConnected = false
    /// Set by `revoke`; `attach` refuses every connection from then on.
    private var revoked = false

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
    /// The newest entry of the agent's verdict history (see `recordVerdict`).
    @OutOfLine var latestVerdict: VerdictRecord?
    /// Whether `latestVerdict` was looked up in the store (nil there means none yet).
    var latestVerdictLoaded = false
    /// Keys of the agent findings already judged (bounded; see `absorbFindings`).
    @OutOfLine var judgedFindings: [String]?
    /// New findings judged in the current window (see `absorbFindings`: a hostile agent cannot turn
    /// its reports into a stream of store writes).
    @OutOfLine var findingWindow: FindingWindow?
    /// Pre-authentication evidence of failed attempts, claimed by connection id.
    let handshakeBook: HandshakeBook?

    let signer: WorkSigner
    /// Wakes the session when a duty is due (see `wake(now:)`); nil in tests that call `tick` directly.
    let clock: SessionClock?

    init(agentId: String, store: any Store, feed: ChangeFeed, settings: ServerSettings, config: AgentConfig, signer: WorkSigner, logger: Logger,
         clock: SessionClock? = nil, handshakeBook: HandshakeBook? = nil) {
        self.agentId = agentId
        self.handshakeBook = handshakeBook
        self.clock = clock
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
    /// `detach` cannot touch the new one because epochs differ. Returns the mailbox the link's
    /// sideline puts this connection's routine heartbeats in.
    /// A revoked agent's session attaches nothing: `link` is closed with 4006 and nil returned.
    @discardableResult
    func attach(link: WebSocketLink, epoch: Int, agentStream: String, peerSaw: StreamPosition?, now: Date, name: String? = nil) async -> HeartbeatMailbox? {
        try? await loadIfNeeded()
        // Checked after the last suspension before the connection is set: a handshake whose
        // lookup saw the agent before its revocation cannot attach after it.
        if revoked {
            link.close(.revoked, reason: "agent \(agentId) is revoked")
            return nil
        }
        guard outbox.resume(peerSaw: peerSaw) else {
            // Taking it as an ack would drop commands the agent never received.
            let claimed = peerSaw?.seq ?? 0
            logger.warning("hello claims seq \(claimed) received, beyond the last message sent (\(outbox.lastSeq)); closing")
            link.close(.protocolError, reason: "hello claims seq \(claimed) received, beyond the last message sent (\(outbox.lastSeq))")
            return nil
        }
        var superseded: SupersededFact?
        if let old = connection {
            logger.info("connection of epoch \(old.epoch) superseded by epoch \(epoch)")
            absorbHeartbeats()
            old.link.close(.superseded, reason: "superseded by a newer connection (epoch \(epoch))")
            let lastData = old.link.counters.lastDataIn.map { max(0, now.timeIntervalSince1970 - $0) }
            superseded = SupersededFact(oldEpoch: old.epoch, newEpoch: epoch, secondsSinceData: lastData, unacknowledgedMoved: outbox.unacknowledged.count)
        }
        inbox.peerStream(agentStream)
        heartbeatCounter += 1
        let mailbox = HeartbeatMailbox(firstHeartbeatId: heartbeatCounter)
        connection = Connection(
            link: link, epoch: epoch, since: now, sentThrough: outbox.acked,
            firstHeartbeatId: heartbeatCounter, lastHeartbeatSent: now, lastPingSent: now, heartbeats: mailbox
        )
        liveEpoch.set(epoch)
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
            configSignature: signer.signature(of: config, for: agentId, at: WorkVerifier.welcomePosition(stream: outbox.stream)),
            serverKey: signer.publicKey, name: name
        )
        link.send(Envelope(.welcome(welcome), ack: inbox.lastSeq))
        link.ping()
        scheduleWake(now: now)
        logger.info("session attached", metadata: ["epoch": "\(epoch)", "remote": "\(link.remoteDescription)", "resend": "\(outbox.unacknowledged.count)"])
        await pump()
        if let superseded {
            // H6: the stale route is closed and its frames move on at once (so no command waits on it:
            // no delay notes); recorded so an operator sees it happened.
            var evidence = LinkEvidence(source: .serverProbe, now: now.timeIntervalSince1970, downlinkMode: link.sendMode)
            evidence.superseded = superseded
            if let conclusion = LinkVerdict.decide(evidence).conclusion {
                await recordVerdict(conclusion, source: .serverProbe, evidence: evidence, at: now, notesDelays: false)
            }
        }
        feed.bump()
        return mailbox
    }

    /// The connection of `epoch` ended. Ignored if a newer connection already took over.
    func detach(epoch: Int, closure: LinkClosure, now: Date) async {
        guard let current = connection, current.epoch == epoch else { return }
        absorbHeartbeats()
        connection = nil
        liveEpoch.set(nil)
        lastCloseReason = closure.description
        live.disconnectedAt = now
        live.connectedSince = nil
        logger.info("session detached", metadata: ["epoch": "\(epoch)", "why": "\(LogSafe.describe(closure))"])
        if closure.byPeer, let code = closure.code, [CloseCode.protocolError, .invalidPayload, .messageTooBig].contains(where: { $0.rawValue == code }) {
            await recordAgentReportedDesync(closure, epoch: epoch, now: now)
        }
        await flushLiveness(now: now)
        feed.bump()
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

    /// The agent was revoked: its connection is closed with 4006, and no later one attaches.
    func revoke(reason: String) {
        revoked = true
        connection?.link.close(.revoked, reason: reason)
    }

    // MARK: work from the server

    /// Adds new commands to the outbox and sends what it can. Those stored as `sent` already
    /// (`sentOnEpoch`: the command service saw this epoch live) skip that write if the same
    /// connection is still the one they go out on.
    func enqueue(_ commands: [CommandRecord], sentOnEpoch: Int? = nil) async {
        try? await loadIfNeeded()
        for record in commands {
            if let sentOnEpoch, record.state == .sent { recordedSent[record.id] = sentOnEpoch }
            if !hasPending(record.id) { track(record) }
        }
        await pump()
    }

    /// Asks the agent to cancel a delivered or running command (or to refuse it if it arrives later).
    func sendCancel(commandId: String, reason: String) async {
        outbox.remove { $0.commandId == commandId }
        recordedSent[commandId] = nil
        _ = outbox.append(.cancel(Cancel(commandId: commandId, reason: reason)))
        await pump()
    }

    /// Drops an undelivered command from the outbox (it expired or was cancelled before delivery).
    func drop(commandId: String) {
        outbox.remove { $0.commandId == commandId }
        recordedSent[commandId] = nil
    }

    /// Pushes a new config.
    func push(config newConfig: AgentConfig) async {
        config = newConfig
        outbox.remove { if case .config = $0 { return true } else { return false } }
        _ = outbox.append(.config(newConfig))
        await pump()
    }

    // MARK: inbound

    /// Handles one message from the connection of `epoch`.
    func handle(_ envelope: Envelope, epoch: Int, now: Date) async {
        await handle([envelope], epoch: epoch, now: now)
    }

    /// Handles messages from the connection of `epoch`, in arrival order — typically everything one
    /// socket read delivered. The agent's reports among them go to the store in one write, and are
    /// acknowledged only after it committed.
    func handle(_ envelopes: [Envelope], epoch: Int, now: Date) async {
        guard let current = connection, current.epoch == epoch else { return }
        live.lastSeenAt = max(live.lastSeenAt ?? now, now)
        var reliable: [(seq: Int, message: Message)] = []
        var reports: [LinkReport] = []
        var newest = inbox.lastSeq
        for envelope in envelopes {
            if let ack = envelope.ack, !noteAcknowledged(through: ack, now: now) {
                // Taking it would drop commands the agent never received; no honest agent sends it.
                current.link.close(.protocolError, reason: "ack \(ack) is beyond the last message sent (\(outbox.lastSeq))")
                return
            }
            let message = envelope.message
            if message.isReliable {
                guard let seq = envelope.seq else { continue }
                // Already handled (a resend after a reconnect, or a duplicate): just ack again.
                guard seq > newest else {
                    ackDirty = true
                    continue
                }
                newest = seq
                reliable.append((seq, message))
            } else {
                if case .linkReport(let report) = message, report.findings?.isEmpty == false { reports.append(report) }
                handleUnreliable(message, current: current, now: now)
            }
        }
        // Judged before the reports that follow them: a verdict found before a command's ack
        // notes the delay on it while it still waits.
        for report in reports { await absorbFindings(of: report, epoch: epoch, now: now) }
        if !reliable.isEmpty { await apply(reliable, epoch: epoch, now: now) }
        // From now on the link may take heartbeats that acknowledge nothing newer than this.
        if let current = connection, current.epoch == epoch {
            current.heartbeats.publish(acked: outbox.acked, proven: storedLive.lastDownlinkAt != nil)
        }
    }

    /// Folds in what the heartbeats the current connection's link took on the event loop said
    /// (`HeartbeatMailbox`): every reader of `live` and the heartbeat's echo goes through here.
    private func absorbHeartbeats() {
        guard let pending = connection?.heartbeats.takePending() else { return }
        storedLive.lastSeenAt = max(storedLive.lastSeenAt ?? pending.lastSeenAt, pending.lastSeenAt)
        if let provenAt = pending.provenAt { storedLive.lastDownlinkAt = max(storedLive.lastDownlinkAt ?? provenAt, provenAt) }
        if let metrics = pending.metrics { storedLive.metrics = metrics }
        lastPeerHeartbeat = pending.peerHeartbeatId
    }

    /// False for an ack beyond the last message sent (nothing changes then).
    private func noteAcknowledged(through ack: Int, now: Date) -> Bool {
        let before = outbox.acked
        guard outbox.acknowledge(through: ack) else { return false }
        if outbox.acked > before && ack > 0 {
            live.lastDownlinkAt = now
            let acked = outbox.acked
            if let written = connection?.writtenAt { connection?.writtenAt = written.filter { $0.key > acked } }
        }
        return true
    }

    private func handleUnreliable(_ message: Message, current: Connection, now: Date) {
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

    /// Applies new reliable messages: their command reports in one store write, then each message's
    /// follow-up in order. The seqs are recorded as handled only after that write committed; if it
    /// fails, none is, the connection closes, and the agent resends them all after reconnecting.
    private func apply(_ messages: [(seq: Int, message: Message)], epoch: Int, now: Date) async {
        var reports: [CommandReport] = []
        var reportOf: [Int?] = []
        for (_, message) in messages {
            if let report = report(for: message) {
                reportOf.append(reports.count)
                reports.append(report)
            } else {
                reportOf.append(nil)
            }
        }
        let effects: [ReportEffect]
        do {
            effects = try await record(reports, now: now)
        } catch {
            logger.error("could not persist \(reports.count) report(s) from the agent: \(error)")
            if connection?.epoch == epoch {
                connection?.link.close(.internalError, reason: "server could not store your messages; retry")
            }
            return
        }
        // Durable now. A newer connection may have taken over meanwhile (possibly with a restarted
        // agent numbering from 1 again): then the seqs are left for its resend, which is harmless
        // (its reports then change nothing) — but what did change must still wake the long-polls.
        guard connection?.epoch == epoch else {
            if effects.contains(where: { if case .changed = $0 { return true } else { return false } }) { feed.bump() }
            return
        }
        var changed = false
        for (index, (seq, message)) in messages.enumerated() {
            if let position = reportOf[index] {
                changed = follow(message, effects[position]) || changed
            } else if case .configApplied(let applied) = message {
                live.configVersionApplied = applied.version
            } else if let report = rejectedResult(message) {
                logger.warning("\(report)")
            } else {
                connection?.link.close(.protocolError, reason: "'\(message.type)' is not something an agent sends")
                return
            }
            inbox.handled(seq)
        }
        ackDirty = true
        if changed { feed.bump() }
        if hasUnsent { await pump() }
    }

    /// Stores reports in one write. A `StoreError` is about one report's command (say, a row that
    /// cannot be read) and would fail the same way forever: then each is stored alone and only the
    /// failing one is dropped. Any other error (the database) is thrown: nothing was stored.
    private func record(_ reports: [CommandReport], now: Date) async throws -> [ReportEffect] {
        do {
            let effects = try await store.recordReports(reports, agentId: agentId, now: now)
            guard effects.count == reports.count else { throw StoreError.corrupt("\(effects.count) effects for \(reports.count) reports") }
            return effects
        } catch let error as StoreError {
            guard reports.count > 1 else {
                logger.warning("dropped a report on command \(LogSafe.text(reports.first?.commandId ?? "?")): \(LogSafe.describe(error))")
                return [.unknown]
            }
            var effects: [ReportEffect] = []
            for report in reports { effects += try await record([report], now: now) }
            return effects
        }
    }

    /// The store step for an agent's message about a command; nil for anything else.
    private func report(for message: Message) -> CommandReport? {
        switch message {
        case .commandAck(let ack):
            return .acknowledged(commandId: ack.commandId, reason: ack.duplicate ? "agent already had it (retransmission)" : nil)
        case .started(let started):
            return .started(commandId: started.commandId, reason: started.pid.map { "pid \($0)" })
        case .output(let output):
            return .output(commandId: output.commandId, stream: output.stream, offset: output.offset, data: output.data, cap: config.outputCapBytes)
        case .result(let result):
            guard rejectedResult(message) == nil else { return nil }
            return .finished(commandId: result.commandId, outcome: CommandOutcome(
                state: result.status, reason: result.reason, exitCode: result.exitCode, signal: result.signal,
                stdout: result.stdout, stderr: result.stderr,
                stdoutTruncated: result.stdoutTruncated, stderrTruncated: result.stderrTruncated
            ).capped(at: config.outputCapBytes))
        default:
            return nil
        }
    }

    /// Why a result cannot be applied at all (it names no end state), or nil.
    private func rejectedResult(_ message: Message) -> String? {
        guard case .result(let result) = message, !result.status.isTerminal || result.status == .expired else { return nil }
        return "agent reported non-terminal status \(result.status.rawValue) as a result for \(LogSafe.text(result.commandId)); ignored"
    }

    /// What follows from one stored report; true if the command changed.
    private func follow(_ message: Message, _ effect: ReportEffect) -> Bool {
        guard let commandId = message.reportedCommandId else { return false }
        switch effect {
        case .notOwned:
            // An agent may only report on its own commands: a malicious agent must not be able to
            // complete, fail or write output into another agent's work.
            logger.warning("agent \(agentId) reported on command \(LogSafe.text(commandId)), which is not its own; ignored")
            return false
        case .unknown:
            // A command this server does not know (e.g. its database was replaced) can never
            // succeed: log it and move on rather than ask for it forever.
            logger.warning("dropped \(message.type) for command \(LogSafe.text(commandId)): unknown to this server, or its record is unreadable")
            return false
        case .changed(let record):
            if case .result(let result) = message, result.status == .rejected {
                // Includes refused signatures: a path that altered work shows up here, on both sides.
                logger.warning("agent rejected command \(record.id): \(LogSafe.text(result.reason ?? "no reason given"))")
            }
            return true
        case .unchanged(let record):
            switch message {
            case .commandAck(let ack) where !ack.duplicate && (record.state == .expired || record.state == .cancelled):
                // The agent took a command the server had already given up on: make it stand down.
                logger.warning("agent acknowledged \(LogSafe.text(commandId)) after it ended \(record.state.rawValue); sending cancel")
                _ = outbox.append(.cancel(Cancel(commandId: commandId, reason: "command had already \(record.state.rawValue) on the server")))
            case .result(let result) where record.state != result.status:
                logger.warning("late result for \(LogSafe.text(commandId)): agent says \(result.status.rawValue), server already recorded \(record.state.rawValue)")
            default:
                break
            }
            return false
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
                let step = await prepare(next.item, epoch: current.epoch, at: StreamPosition(stream: outbox.stream, seq: next.seq))
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

    /// Persists `sent` for a command before it is written, and signs what goes out at `position`.
    private func prepare(_ item: OutboundItem, epoch: Int, at position: StreamPosition) async -> PumpStep {
        let now = Date()
        switch item {
        case .command(let pending):
            if let problem = pending.spec.rangeProblem() {
                return await refuseUnsendable(pending.id, problem: problem, epoch: epoch, now: now)
            }
            // Stored as `sent` on this very connection when it was created: nothing to write.
            // (A cancel or expiry since then found it `sent` and took it out of the outbox.)
            if recordedSent.removeValue(forKey: pending.id) == epoch {
                return .send(.command(signer.signed(pending.spec, for: agentId, at: position)))
            }
            do {
                guard try await store.transition(commandId: pending.id, to: .sent, reason: "epoch \(epoch)", now: now) != nil else {
                    return .drop
                }
                feed.bump()
                return .send(.command(signer.signed(pending.spec, for: agentId, at: position)))
            } catch StoreError.notFound {
                return .drop
            } catch {
                logger.error("could not mark \(pending.id) sent: \(error); will retry")
                return .retryLater
            }
        case .cancel(let cancel):
            return .send(.cancel(signer.signed(cancel, for: agentId, at: position)))
        case .config(let config):
            return .send(.configUpdate(ConfigUpdate(config: config, signature: signer.signature(of: config, for: agentId, at: position))))
        }
    }

    /// A command stored (by a release with looser ranges) with a value this protocol refuses: the
    /// agent would close on its frame at every resend, so it ends `rejected` here, saying why.
    private func refuseUnsendable(_ commandId: String, problem: String, epoch: Int, now: Date) async -> PumpStep {
        do {
            // `queued` cannot end `rejected`; `sent` (on this connection, never written) can.
            _ = try await store.transition(commandId: commandId, to: .sent, reason: "epoch \(epoch)", now: now)
            _ = try await store.transition(commandId: commandId, to: .rejected, reason: "the server cannot send it: \(problem)", now: now)
            feed.bump()
            logger.error("command \(commandId) cannot be sent (\(problem)); it ends rejected")
            return .drop
        } catch StoreError.notFound {
            return .drop
        } catch {
            logger.error("could not mark \(commandId) rejected: \(error); will retry")
            return .retryLater
        }
    }

    /// True when the outbox holds items this connection has not carried yet.
    private var hasUnsent: Bool {
        guard let current = connection else { return false }
        return outbox.unacknowledged.contains { $0.seq > current.sentThrough }
    }

    // MARK: timers

    /// Periodic duties: heartbeats, pings, the inbound deadline, retransmission. Files the session
    /// in its clock under its next duty, and returns its liveness when a flush is due, for the
    /// caller to write (in one batch with other sessions').
    func wake(now: Date) async -> AgentLiveness? {
        if var current = connection {
            let counters = current.link.counters
            let lastIn = counters.lastDataIn.map { Date(timeIntervalSince1970: $0) } ?? current.since
            if now.timeIntervalSince(lastIn) > config.heartbeatDeadline {
                current.link.close(.deadlineExpired, reason: "no data frame from agent for \(Int(config.heartbeatDeadline)) s")
            } else {
                let heartbeatDue = now.timeIntervalSince(current.lastHeartbeatSent) >= config.heartbeatInterval || ackDirty
                if now.timeIntervalSince(current.lastPingSent) >= config.pingInterval {
                    // Due with a heartbeat: the heartbeat's flush carries the ping, one syscall
                    // instead of two.
                    current.link.ping(flush: !(heartbeatDue && current.link.sendMode != .poll))
                    current.lastPingSent = now
                }
                if heartbeatDue {
                    sendHeartbeat(now: now)
                    current.lastHeartbeatSent = now
                }
                if let rtt = counters.lastPongRttMs { live.lastPongRttMs = rtt }
                if hasUnsent { await pump() }
                connection?.lastHeartbeatSent = current.lastHeartbeatSent
                connection?.lastPingSent = current.lastPingSent
                // A command unacknowledged past the ack deadline: find out why, automatically.
                if let overdue = overdueCommand(now: now), !diagnosing,
                   now.timeIntervalSince(lastAutoDiagnosis) >= autoDiagnosisSpacing {
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
        let flush = now.timeIntervalSince(lastFlush) >= settings.livenessFlushInterval
        if flush { lastFlush = now }
        scheduleWake(now: now)
        return flush ? live : nil
    }

    /// Seconds between automatic diagnoses of one agent's overdue commands.
    private var autoDiagnosisSpacing: Double { max(2 * config.ackDeadline, 10) }

    /// Files the session in its clock under its next duty. Scheduling is "earliest wins", so
    /// calling this whenever something may have moved a duty earlier is always safe.
    private func scheduleWake(now: Date) {
        guard let clock, let due = nextDue(now: now) else { return }
        clock.schedule(self, at: due)
    }

    /// Wakes the session at the next tick (an owed ack rides on a heartbeat sent then).
    private func scheduleSoon() {
        clock?.scheduleSoon(self)
    }

    /// When the session next has a duty; nil without a connection (it leaves the clock then, and
    /// `attach` files it again). A time already past means the next tick.
    private func nextDue(now: Date) -> Date? {
        guard let current = connection else { return nil }
        // An owed ack, or items the pump could not send (the store failed): the next tick.
        if ackDirty || hasUnsent { return now }
        // Inbound data moves `lastDataIn` without the session hearing of it: at the wake for this
        // deadline, the check above reads the link's counters again and files the next one.
        let lastIn = current.link.counters.lastDataIn.map { Date(timeIntervalSince1970: $0) } ?? current.since
        var due = min(
            current.lastHeartbeatSent.addingTimeInterval(config.heartbeatInterval),
            current.lastPingSent.addingTimeInterval(config.pingInterval),
            lastIn.addingTimeInterval(config.heartbeatDeadline),
            lastFlush.addingTimeInterval(settings.livenessFlushInterval)
        )
        if let oldest = outbox.unacknowledged.first, oldest.seq <= current.sentThrough, let written = current.writtenAt[oldest.seq] {
            due = min(due, written.addingTimeInterval(config.ackDeadline))
        }
        // The automatic diagnosis of an overdue command, no sooner than its spacing allows.
        let commandWrites = outbox.unacknowledged.lazy.compactMap { $0.item.commandId == nil ? nil : current.writtenAt[$0.seq] }
        if let oldestCommand = commandWrites.min() {
            due = min(due, max(oldestCommand.addingTimeInterval(config.ackDeadline), lastAutoDiagnosis.addingTimeInterval(autoDiagnosisSpacing)))
        }
        return due
    }

    private func sendHeartbeat(now: Date) {
        guard let current = connection else { return }
        absorbHeartbeats()  // for the latest peer heartbeat to echo
        heartbeatCounter += 1
        ackDirty = false
        current.link.send(Envelope(.heartbeat(Heartbeat(id: heartbeatCounter, echo: lastPeerHeartbeat, time: now.timeIntervalSince1970)), ack: inbox.lastSeq))
    }

    /// Writes the liveness now, on its own (a detach: the last word until the next connection).
    private func flushLiveness(now: Date) async {
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

    /// Queues one of this agent's commands for sending.
    private func track(_ record: CommandRecord) {
        guard record.agentId == agentId else {
            logger.error("command \(record.id) of agent \(record.agentId) was handed to this session; not sent")
            return
        }
        _ = outbox.append(.command(PendingCommand(record)))
    }

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
                track(record)
            }
        } catch {
            loaded = false
            throw error
        }
    }
}
