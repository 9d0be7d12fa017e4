import Foundation
import Logging
import RMMAPI
import RMMProtocol
import RMMStore
import RMMTransport

/// One agent's session on this server: it outlives connections. A thin driver over pure state
/// machines: `OutboundStream` (what is queued, written, acknowledged and resent), `InboundMachine`
/// (what each frame from the agent means, and what follows from its command reports),
/// `SessionSchedule` (heartbeats, pings, the inbound deadline, the liveness flush),
/// `LinkHealthMachine` (diagnoses, probes, the response to a verdict) and `VerdictLedger` (the
/// verdict history, judged findings). It performs the actions they return: writes to the
/// connection, store writes, logging. It routes sends only to the connection of the newest
/// epoch, is the one place where an agent's messages change command state, and the one place that
/// decides a command is `sent` (`admission()` at creation, the pump after). A session starts for
/// a connection in `attach` and ends only in `detach`.
actor AgentSession {
    let agentId: String
    let store: any SessionStore
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

    /// The server → agent stream; its state machine holds the outbox and the per-connection writes.
    private(set) var outbound: OutboundStream
    /// The agent → server stream; its state machine holds the reliable inbox.
    private var inbound = InboundMachine()
    private var loaded = false
    private var schedule = SessionSchedule()
    /// Link-health state (diagnoses, probes, packet limits, evidence); see `LinkHealthMachine`.
    var health = LinkHealthMachine()
    /// The verdict history's state (newest verdict, judged findings); see `VerdictLedger`.
    var verdicts = VerdictLedger()

    /// The I/O side of the live connection (its stream and timing state live in the machines).
    struct Connection {
        let link: WebSocketLink
        let epoch: Int
        let since: Date
        /// First heartbeat id sent on this connection: an echo at or above it proves the downlink.
        let firstHeartbeatId: Int
        /// Routine heartbeats the link took on the event loop (see `absorbHeartbeats`).
        let heartbeats: HeartbeatMailbox
    }

    /// Set only in `attach` and `detach`, which keep `liveEpoch` and the machines in step.
    private(set) var connection: Connection?
    /// The live connection's epoch, for readers off the actor (see `LiveEpoch`, `admission()`).
    nonisolated let liveEpoch = LiveEpoch()
    private(set) var config: AgentConfig
    private var heartbeatCounter = 0
    private var lastPeerHeartbeat: Int?
    private var storedLive = AgentLiveness()
    /// The agent's metrics since its stored history was last written (`AgentSession+MetricHistory.swift`).
    var pendingMetrics = PendingMetricSamples()
    /// When `pendingMetrics` is next written into the stored history.
    var historySaves: HistorySaveSchedule
    /// The agent's liveness, with the heartbeats the link took since folded in first.
    var live: AgentLiveness {
        get {
            absorbHeartbeats()
            return storedLive
        }
        set { storedLive = newValue }
    }
    private var lastCloseReason: String?
    /// Commands this session asked the agent to cancel (see `sendRequestedCancels`).
    private var cancelsAsked: Set<String> = []
    /// Reliable messages of the current connection whose reports could not be stored (the
    /// database away), in seq order: never acknowledged before they are stored, tried again at
    /// `storeRetryAt` and always before anything newer. The connection stays open meanwhile.
    private var unstored: [InboundMachine.Reliable] = []
    /// The connection whose reports write is in progress: newer messages wait in `unstored`
    /// behind it. Kept per connection, so a write stuck on the store cannot keep the next
    /// connection's reports from being stored.
    private var storingEpoch: Int?
    /// The connection whose reports could not be stored for a reason other than an absent
    /// database (it is being closed): none of its later messages may be stored or acknowledged,
    /// or their seqs would acknowledge the failed ones with them.
    private var failedEpoch: Int?
    /// Most bytes of reports held in `unstored` for one connection: past it the connection is
    /// closed (the agent resends after reconnecting), so no agent can make the server hold an
    /// unbounded backlog while the database is away.
    static let maxUnstoredBytes = 8 << 20
    /// While the database is away: when this session's store writes are tried again.
    private var storeRetryAt: Date?
    /// A reports write failed as `unavailable` since the last one stored: it may have committed
    /// all the same (a write past its deadline, or whose COMMIT lost its answer, can), and then
    /// its retry finds the commands unchanged (every report applies once: a repeated ack, result
    /// or output at a stored offset changes nothing). What it changed must still wake the
    /// long-polls, so the retry that succeeds bumps the feed.
    private var reportsMaybeStored = false
    private var everConnected = false
    /// Set by `revoke`; `attach` refuses every connection from then on.
    private var revoked = false

    /// The probes in flight that a caller waits on, by id (see `probe`).
    var probeWaiters: [Int: CheckedContinuation<Double?, Never>] = [:]
    /// Pre-authentication evidence of failed attempts, claimed by connection id.
    let handshakeBook: HandshakeBook?
    /// The server's metrics; nil where tests drive a session alone.
    let metrics: ServerMetrics?
    /// Pongs of the current connection already observed (`observePong`).
    private var pongsObserved = 0

    private let signer: WorkSigner
    /// Wakes the session when a duty is due (see `duties(now:)`); nil in tests that call `tick` directly.
    private let clock: SessionClock?
    /// Other nodes share the store: work for this agent may have been stored while it was
    /// connected elsewhere, so every connection here reloads it (`attach`).
    private let clustered: Bool
    /// Where work this session cannot send any more is handed on (see `handOn`); nil on one node.
    private let signals: (any ClusterSignals)?

    init(agentId: String, store: any SessionStore, feed: ChangeFeed, settings: ServerSettings, config: AgentConfig, signer: WorkSigner, logger: Logger,
         clock: SessionClock? = nil, handshakeBook: HandshakeBook? = nil, clustered: Bool = false, signals: (any ClusterSignals)? = nil,
         metrics: ServerMetrics? = nil) {
        self.agentId = agentId
        self.metrics = metrics
        self.clustered = clustered
        self.signals = signals
        self.handshakeBook = handshakeBook
        self.clock = clock
        self.signer = signer
        self.store = store
        self.feed = feed
        self.settings = settings
        self.config = config
        self.outbound = OutboundStream(stream: UUID().uuidString.lowercased())
        self.baseLogger = logger
        self.historySaves = HistorySaveSchedule(agentId: agentId)
    }

    /// Whether a link diagnosis of this agent runs now.
    var diagnosing: Bool { health.diagnosing }

    /// The newest finished link diagnosis of this agent.
    var lastDiagnosis: LinkDiagnosis? { health.lastDiagnosis }

    /// When an automatic link diagnosis last started (`distantPast`: never).
    var lastAutoDiagnosisStart: Date { health.lastAutoDiagnosis }

    // MARK: connection lifecycle

    /// Makes `link` the agent's only route. An older connection is closed as superseded; its late
    /// `detach` cannot touch the new one because epochs differ. Returns the mailbox the link's
    /// sideline puts this connection's routine heartbeats in.
    /// A revoked agent's session attaches nothing: `link` is closed with 4006 and nil returned.
    @discardableResult
    func attach(link: WebSocketLink, epoch: Int, agentStream: String, peerSaw: StreamPosition?, now: Date, name: String? = nil) async -> HeartbeatMailbox? {
        if clustered { loaded = false }
        try? await loadIfNeeded()
        // Checked after the last suspension before the connection is set: a handshake whose
        // lookup saw the agent before its revocation cannot attach after it.
        if revoked {
            link.close(.revoked, reason: "agent \(agentId) is revoked")
            return nil
        }
        guard outbound.resume(peerSaw: peerSaw) else {
            // Taking it as an ack would drop commands the agent never received.
            let claimed = peerSaw?.seq ?? 0
            logger.warning("hello claims seq \(claimed) received, beyond the last message sent (\(outbound.lastSeq)); closing")
            link.close(.protocolError, reason: "hello claims seq \(claimed) received, beyond the last message sent (\(outbound.lastSeq))")
            return nil
        }
        var superseded: SupersededFact?
        if let old = connection {
            logger.info("connection of epoch \(old.epoch) superseded by epoch \(epoch)")
            absorbHeartbeats()
            old.link.close(.superseded, reason: "superseded by a newer connection (epoch \(epoch))")
            let lastData = old.link.counters.lastDataIn.map { max(0, now.timeIntervalSince1970 - $0) }
            superseded = SupersededFact(oldEpoch: old.epoch, newEpoch: epoch, secondsSinceData: lastData, unacknowledgedMoved: outbound.pendingCount)
        }
        inbound.peerStream(agentStream)
        // The agent resends whatever the old connection left unacknowledged.
        unstored = []
        heartbeatCounter += 1
        let mailbox = HeartbeatMailbox(firstHeartbeatId: heartbeatCounter)
        connection = Connection(link: link, epoch: epoch, since: now, firstHeartbeatId: heartbeatCounter, heartbeats: mailbox)
        outbound.connected(epoch: epoch)
        schedule.connected(now: now)
        liveEpoch.set(epoch)
        everConnected = true
        pongsObserved = 0
        metrics?.attached(epoch: epoch)
        health.connected()
        live.connectedSince = now
        live.lastSeenAt = now
        live.disconnectedAt = nil
        live.lastDownlinkAt = nil
        // Every flush from now on (the detach's too) is this connection's: it lands only while
        // no newer epoch is stored, so it cannot undo a newer connection's on another node.
        live.epoch = epoch
        link.setMaxMessageBytes(health.messageCap(configured: config.maxMessageBytes))
        let welcome = Welcome(
            agentId: agentId, epoch: epoch, stream: outbound.stream, received: inbound.position,
            heartbeatId: heartbeatCounter, config: config,
            configSignature: signer.signature(of: config, for: agentId, at: WorkVerifier.welcomePosition(stream: outbound.stream)),
            serverKey: signer.publicKey, name: name, nodes: settings.cluster.welcomeNodes()
        )
        link.send(Envelope(.welcome(welcome), ack: inbound.lastSeq))
        link.ping()
        scheduleWake(now: now)
        logger.info("session attached", metadata: ["epoch": "\(epoch)", "remote": "\(link.remoteDescription)", "resend": "\(outbound.pendingCount)"])
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
        // The agent resends what was not acknowledged on its next connection, here or elsewhere.
        unstored = []
        outbound.disconnected()
        schedule.disconnected()
        liveEpoch.set(nil)
        lastCloseReason = closure.description
        live.disconnectedAt = now
        live.connectedSince = nil
        logger.info("session detached", metadata: ["epoch": "\(epoch)", "why": "\(LogSafe.describe(closure))"])
        if closure.byPeer, let code = closure.code, [CloseCode.protocolError, .invalidPayload, .messageTooBig].contains(where: { $0.rawValue == code }) {
            await recordAgentReportedDesync(closure, epoch: epoch, now: now)
        }
        await flushLiveness(now: now)
        await saveHistoryAtDetach(now: now)
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

    /// How a command created now for this agent is stored: `sent` on the live connection, else
    /// `queued`. The session is the one that decides `sent` (it holds the connection); read off
    /// the actor so a fan-out asks every target without a hop. A hint like `LiveEpoch`: if the
    /// connection ends meanwhile, the command is in the same place as one written into a
    /// connection that dropped, and goes out again on the next.
    nonisolated func admission() -> CommandAdmission {
        CommandAdmission(liveEpoch: liveEpoch.value)
    }

    /// Adds new commands to the stream and sends what it can. Those stored `sent` by `admission`
    /// skip that write if the same connection is still the one they go out on.
    func enqueue(_ commands: [CommandRecord], admission: CommandAdmission = .queued) async {
        try? await loadIfNeeded()
        for record in commands {
            guard record.agentId == agentId else {
                logger.error("command \(record.id) of agent \(record.agentId) was handed to this session; not sent")
                continue
            }
            outbound.add(record, admission: admission)
        }
        // Handed here for a connection that ended meanwhile (the agent may be on another node by now).
        if connection == nil, !commands.isEmpty { await handOn() }
        await pump()
    }

    /// Asks the agent to cancel a delivered or running command (or to refuse it if it arrives later).
    func sendCancel(commandId: String, reason: String) async {
        cancelsAsked.insert(commandId)
        outbound.cancel(commandId: commandId, reason: reason)
        await pump()
    }

    /// The cancels stored for this agent's unfinished commands (command id → reason), for the
    /// cluster sweep: those this session has not asked the agent yet are sent now (their signal
    /// was lost). Forgets the commands no longer listed (they ended).
    func sendRequestedCancels(_ requested: [String: String]) async {
        let new = requested.filter { !cancelsAsked.contains($0.key) }
        cancelsAsked.formIntersection(requested.keys)
        guard !new.isEmpty else { return }
        for (commandId, reason) in new.sorted(by: { $0.key < $1.key }) {
            cancelsAsked.insert(commandId)
            outbound.cancel(commandId: commandId, reason: reason)
        }
        await pump()
    }

    /// Drops an undelivered command from the stream (it expired or was cancelled before delivery).
    func drop(commandId: String) {
        outbound.drop(commandId: commandId)
    }

    /// Pushes a new config.
    func push(config newConfig: AgentConfig) async {
        config = newConfig
        outbound.push(config: newConfig)
        await pump()
    }

    /// Observes the pongs `link` saw since the last look (each is kept among its recent ones).
    private func observePong(_ link: WebSocketLink) {
        guard let metrics else { return }
        let counters = link.counters
        let new = counters.pongsReceived - pongsObserved
        guard new > 0 else { return }
        pongsObserved = counters.pongsReceived
        for rtt in counters.recentPongRttMs.suffix(new) { metrics.pong(rttMilliseconds: rtt) }
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
        if let metrics, let ack = envelopes.lazy.compactMap(\.ack).max() {
            outbound.commandWrites(newlyAcknowledgedBy: ack) { metrics.commandAcknowledged(after: now.timeIntervalSince($0)) }
        }
        let reading = inbound.read(envelopes, outbound: &outbound, firstHeartbeatId: current.firstHeartbeatId)
        for action in reading.actions { perform(action, on: current, now: now) }
        if reading.stopped { return }
        // Judged before the reports that follow them: a verdict found before a command's ack
        // notes the delay on it while it still waits.
        for report in reading.findings { await absorbFindings(of: report, epoch: epoch, now: now) }
        if !reading.reliable.isEmpty { await storeReports(reading.reliable, epoch: epoch, now: now) }
        // From now on the link may take heartbeats that acknowledge nothing newer than this.
        if let current = connection, current.epoch == epoch {
            current.heartbeats.publish(acked: outbound.acked, proven: storedLive.lastDownlinkAt != nil)
        }
    }

    /// Folds in what the heartbeats the current connection's link took on the event loop said
    /// (`HeartbeatMailbox`): every reader of `live` and the heartbeat's echo goes through here.
    private func absorbHeartbeats() {
        guard let pending = connection?.heartbeats.takePending() else { return }
        storedLive.lastSeenAt = max(storedLive.lastSeenAt ?? pending.lastSeenAt, pending.lastSeenAt)
        if let provenAt = pending.provenAt { storedLive.lastDownlinkAt = max(storedLive.lastDownlinkAt ?? provenAt, provenAt) }
        if let metrics = pending.metrics {
            storedLive.metrics = metrics
            recordMetrics(metrics, at: pending.lastSeenAt)
        }
        lastPeerHeartbeat = pending.peerHeartbeatId
    }

    /// The agent is owed an ack: it rides on the heartbeat the next tick sends.
    private func oweAck() {
        outbound.oweAck()
        clock?.scheduleSoon(self)
    }

    /// Performs what `InboundMachine` asks for a frame or a settled message of `connection`.
    private func perform(_ action: InboundMachine.Action, on connection: Connection, now: Date) {
        switch action {
        case .close(let code, let reason): connection.link.close(code, reason: reason)
        case .downlinkProven: live.lastDownlinkAt = now
        case .metrics(let metrics):
            live.metrics = metrics
            recordMetrics(metrics, at: now)
        case .peerHeartbeat(let id): lastPeerHeartbeat = id
        case .probeReplied(let id):
            let rtt = health.probeReplied(id, now: now)
            probeWaiters.removeValue(forKey: id)?.resume(returning: rtt)
        case .linkReport(let report): health.agentReported(report, now: now)
        case .oweAck: oweAck()
        case .warn(let line): logger.warning("\(line)")
        case .cancel(let cancel): outbound.append(cancel)
        case .configApplied(let version): live.configVersionApplied = version
        case .commandEnded(let record): metrics?.resultStored(record, now: now)
        }
    }

    /// Stores `new` after the messages still held, strictly in seq order and one write at a time
    /// (a later write settling first would acknowledge the earlier seqs with it).
    private func storeReports(_ new: [InboundMachine.Reliable], epoch: Int, now: Date) async {
        guard failedEpoch != epoch else { return }
        unstored += new
        if Self.heldBytes(unstored) > Self.maxUnstoredBytes {
            failReports(epoch: epoch, reason: "server cannot store your messages now (database away); retry later")
            return
        }
        guard storingEpoch != epoch else { return }  // the write in progress takes them next
        storingEpoch = epoch
        defer { if storingEpoch == epoch { storingEpoch = nil } }
        while !unstored.isEmpty, connection?.epoch == epoch, failedEpoch != epoch {
            let messages = unstored
            unstored = []
            guard await apply(messages, epoch: epoch, now: now) else {
                if connection?.epoch == epoch { unstored = messages + unstored }
                return
            }
        }
    }

    /// The reports of connection `epoch` cannot be stored: it is closed with `reason`, and nothing
    /// more from it is stored or acknowledged (the agent resends all of it after reconnecting).
    private func failReports(epoch: Int, reason: String) {
        failedEpoch = epoch
        unstored = []
        if connection?.epoch == epoch { connection?.link.close(.internalError, reason: reason) }
    }

    /// Roughly what `messages` hold in memory: output's bytes, a kilobyte for anything else.
    static func heldBytes(_ messages: [InboundMachine.Reliable]) -> Int {
        messages.reduce(0) { total, reliable in
            if case .output(let output) = reliable.message { return total + output.data.count + 1024 }
            return total + 1024
        }
    }

    /// Whether store writes are due now (not backing off from a database that is away).
    private func storeRetryDue(_ now: Date) -> Bool {
        storeRetryAt.map { now >= $0 } ?? true
    }

    /// The database is away: this session's writes wait a second before they are tried again
    /// (the node logs the outage once; a line per agent would flood the log).
    private func storeAway(_ why: String, now: Date) {
        logger.debug("store unavailable (\(why)); retrying")
        storeRetryAt = now.addingTimeInterval(1)
    }

    /// Applies new reliable messages: their command reports in one store write, then each message's
    /// follow-up in order (`InboundMachine.settle`). The seqs are recorded as handled only after that
    /// write committed. Returns false if the database is away: none is handled and the caller keeps
    /// them; any other failure closes the connection, and the agent resends them all after
    /// reconnecting.
    private func apply(_ messages: [InboundMachine.Reliable], epoch: Int, now: Date) async -> Bool {
        let batch = InboundMachine.batch(messages, outputCap: config.outputCapBytes)
        let effects: [ReportEffect]
        do {
            effects = try await record(batch.reports, now: now)
            storeRetryAt = nil
        } catch StoreError.unavailable(let why) {
            // Not "not stored": maybe stored. Either way nothing is acknowledged until a retry
            // returns, and the retry is harmless if it was.
            reportsMaybeStored = !batch.reports.isEmpty || reportsMaybeStored
            storeAway(why, now: now)
            scheduleWake(now: now)
            return false
        } catch {
            logger.error("could not persist \(batch.reports.count) report(s) from the agent: \(error)")
            failReports(epoch: epoch, reason: "server could not store your messages; retry")
            return true
        }
        // Durable now. A newer connection may have taken over meanwhile (possibly with a restarted
        // agent numbering from 1 again): then the seqs are left for its resend, which is harmless
        // (its reports then change nothing) — but what did change must still wake the long-polls.
        let maybeChangedBefore = reportsMaybeStored
        reportsMaybeStored = false
        guard let current = connection, current.epoch == epoch else {
            if InboundMachine.anyChanged(effects) || maybeChangedBefore { feed.bump() }
            return true
        }
        let settlement = inbound.settle(batch, effects: effects, agentId: agentId)
        for action in settlement.actions { perform(action, on: current, now: now) }
        if settlement.stopped {
            // A protocol error closed the connection: what it sent after is not settled either.
            failedEpoch = epoch
            unstored = []
            return true
        }
        if settlement.changed || maybeChangedBefore { feed.bump() }
        if outbound.hasUnsent { await pump() }
        return true
    }

    /// Stores reports in one write. A `StoreError` is about one report's command (say, a row that
    /// cannot be read) and would fail the same way forever: then each is stored alone and only the
    /// failing one is dropped. An unavailable database, or any other error, is thrown: nothing was
    /// stored, and nothing may be acknowledged.
    private func record(_ reports: [CommandReport], now: Date) async throws -> [ReportEffect] {
        do {
            let effects = try await store.recordReports(reports, agentId: agentId, now: now)
            guard effects.count == reports.count else { throw StoreError.corrupt("\(effects.count) effects for \(reports.count) reports") }
            return effects
        } catch StoreError.unavailable(let why) {
            throw StoreError.unavailable(why)
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

    // MARK: sending

    /// Sends everything in the stream that this connection has not carried yet, strictly in seq
    /// order, performing what `OutboundStream.nextDelivery` asks. Only one pump runs at a time, so
    /// an enqueue during a resend can never overtake older items.
    private func pump() async {
        guard let pumpEpoch = outbound.beginPump() else { return }
        defer {
            outbound.endPump(epoch: pumpEpoch)
            // A pump that ends leaves writes awaiting acks, or items it could not send (the store
            // failed, retried at the next tick): file the session under whichever is due first.
            scheduleWake(now: Date())
        }
        // A newer connection pumps for itself: this one stops at its next step.
        while outbound.pumps(epoch: pumpEpoch), let delivery = outbound.nextDelivery() {
            switch delivery {
            case .write(let seq, let epoch, let item):
                write(item, seq: seq, epoch: epoch)
            case .recordSent(let seq, let epoch, let pending):
                switch await recordSent(pending.id, epoch: epoch, now: Date()) {
                case .recorded: write(.command(pending), seq: seq, epoch: epoch)
                case .ended: outbound.dropped(seq: seq, epoch: epoch)
                case .failed, .superseded: return
                }
            case .refuse(let seq, let epoch, let commandId, let problem):
                switch await refuseUnsendable(commandId, problem: problem, epoch: epoch, now: Date()) {
                case .recorded, .ended: outbound.dropped(seq: seq, epoch: epoch)
                case .failed, .superseded: return
                }
            }
        }
    }

    /// Signs `item` for its place in the stream and writes it, if the connection of `epoch` is
    /// still the live one (a newer one carries it itself).
    private func write(_ item: OutboundItem, seq: Int, epoch: Int) {
        guard let current = connection, current.epoch == epoch else { return }
        let position = StreamPosition(stream: outbound.stream, seq: seq)
        let message: Message
        switch item {
        case .command(let pending): message = .command(signer.signed(pending.spec, for: agentId, at: position))
        case .cancel(let cancel): message = .cancel(signer.signed(cancel, for: agentId, at: position))
        case .config(let config): message = .configUpdate(ConfigUpdate(config: config, signature: signer.signature(of: config, for: agentId, at: position)))
        }
        let bytes = current.link.send(Envelope(message, seq: seq, ack: inbound.lastSeq))
        outbound.written(seq: seq, epoch: epoch, bytes: bytes ?? 0, now: Date())
    }

    /// What a store write before a send came to.
    enum StoreStep {
        case recorded
        /// The command ended meanwhile (or is gone): it must not be sent any more.
        case ended
        /// The store failed: keep the item and its place; the next tick pumps again. Never write
        /// a command whose `sent` is not recorded.
        case failed
        /// A newer connection holds the agent's route: this one was closed (`supersede`).
        case superseded
    }

    /// Records a command `sent` on the connection of `epoch`, before it is written to it, in a
    /// transaction that confirms no newer connection of the agent exists (on any node).
    private func recordSent(_ commandId: String, epoch: Int, now: Date) async -> StoreStep {
        do {
            switch try await markSent(commandId, epoch: epoch, reason: CommandAdmission.sentReason(epoch: epoch), now: now) {
            case .superseded: return .superseded
            case .ended: return .ended
            case .recorded, .failed: break
            }
            feed.bump()
            storeRetryAt = nil
            return .recorded
        } catch StoreError.unavailable(let why) {
            // The move may have committed all the same: the item keeps its place and the retry
            // moves `sent` to `sent` (allowed, so it is `recorded` again) before writing it, or
            // a later connection reloads it (undelivered includes `sent`). Never written unrecorded.
            storeAway(why, now: now)
            return .failed
        } catch {
            logger.error("could not mark \(commandId) sent: \(error); will retry")
            return .failed
        }
    }

    /// A command stored (by a release with looser ranges) with a value this protocol refuses: the
    /// agent would close on its frame at every resend, so it ends `rejected` here, saying why.
    private func refuseUnsendable(_ commandId: String, problem: String, epoch: Int, now: Date) async -> StoreStep {
        do {
            // `queued` cannot end `rejected`; `sent` (on this connection, never written) can.
            if try await markSent(commandId, epoch: epoch, reason: CommandAdmission.sentReason(epoch: epoch), now: now) == .superseded {
                return .superseded
            }
            if try await store.transition(commandId: commandId, to: .rejected, reason: "the server cannot send it: \(problem)", now: now) != nil {
                metrics?.commandEnded(.rejected)
            }
            feed.bump()
            logger.error("command \(commandId) cannot be sent (\(problem)); it ends rejected")
            return .recorded
        } catch StoreError.notFound {
            return .ended
        } catch {
            logger.error("could not mark \(commandId) rejected: \(error); will retry")
            return .failed
        }
    }

    /// The guarded move to `sent` (`SessionRouteStore.markSent`): `recorded`, `ended` (the
    /// command cannot be sent any more), or `superseded` (the connection was closed here).
    func markSent(_ commandId: String, epoch: Int, reason: String, now: Date) async throws -> StoreStep {
        switch try await store.markSent(commandIds: [commandId], agentId: agentId, epoch: epoch, reason: reason, now: now) {
        case .superseded(let current):
            await supersede(by: current.map { max($0, epoch + 1) } ?? epoch + 1, now: now)
            return .superseded
        case .marked(let moved):
            return moved.contains(commandId) ? .recorded : .ended
        }
    }

    // MARK: cluster

    /// A connection of a newer epoch holds the agent's route (on another node): the connection
    /// here is closed with 4002, and nothing stays in flight here — the commands leave the
    /// stream, and a later connection here reloads them from the store. Its liveness is not
    /// written: the newer connection's node owns it now. If it held commands, the node of the
    /// newer connection is told at once (`handOn`) rather than finding them at its next sweep.
    func supersede(by newer: Int, now: Date) async {
        guard let current = connection, current.epoch < newer else { return }
        logger.info("connection of epoch \(current.epoch) superseded by epoch \(newer) elsewhere")
        absorbHeartbeats()
        current.link.close(.superseded, reason: "superseded by a newer connection on another node (epoch \(newer))")
        connection = nil
        unstored = []
        outbound.disconnected()
        schedule.disconnected()
        liveEpoch.set(nil)
        let held = outbound.pendingCommandIds
        for id in held { outbound.drop(commandId: id) }
        loaded = false
        lastCloseReason = "superseded by epoch \(newer) on another node"
        live.connectedSince = nil
        feed.bump()
        if !held.isEmpty { await handOn() }
    }

    /// Tells the other nodes this agent has work in the store that this node will not send: the
    /// one holding its connection reloads it now. Commands stored while the route moved (after the
    /// new connection loaded its work) would otherwise wait for that node's sweep.
    private func handOn() async {
        guard let signals else { return }
        await signals.publish(.handOn(agentId: agentId))
    }

    /// Another node inserted commands for this agent (or the sweep found some missing): takes
    /// every undelivered command from the store that the stream lacks, and sends them.
    func reloadUndelivered() async {
        guard connection != nil else { return }
        do {
            let pending = try await store.undeliveredCommands(agentId: agentId)
            for record in pending where record.agentId == agentId { outbound.add(record) }
            loaded = true
        } catch {
            logger.warning("could not reload undelivered commands: \(error)")
            return
        }
        await pump()
    }

    /// The commands in the stream not yet acknowledged, for the cluster sweep.
    func heldCommandIds() -> Set<String> {
        Set(outbound.pendingCommandIds)
    }

    // MARK: timers

    /// The schedule's periods under the current config. With other nodes, the liveness is
    /// flushed at least once a heartbeat interval: they see this agent's status only from the
    /// store, and must see it right within one heartbeat interval (a new connection's first
    /// proof of its downlink, which turns it from degraded to online, included).
    private var timing: SessionSchedule.Timing {
        let flush = clustered ? min(settings.livenessFlushInterval, config.heartbeatInterval) : settings.livenessFlushInterval
        return SessionSchedule.Timing(config, livenessFlushInterval: flush)
    }

    /// When the agent's last data frame arrived on the current connection (nil: none yet).
    private var lastDataIn: Date? {
        connection?.link.counters.lastDataIn.map { Date(timeIntervalSince1970: $0) }
    }

    /// Periodic duties: what `SessionSchedule` says is due (the inbound deadline, heartbeats,
    /// pings), then the stream's retransmission and link health's automatic diagnosis. Files the
    /// session in its clock under its next duty, and returns its liveness when a flush is due, and
    /// its encoded metric history when that write is due with the flush (`HistorySaveSchedule`),
    /// for the caller to write (each in one batch with other sessions').
    func duties(now: Date) async -> (liveness: AgentLiveness?, history: [PendingMetricSamples.Sample]?) {
        let link = connection?.link
        let actions = schedule.wake(now: now, lastDataIn: lastDataIn, ackOwed: outbound.ackOwed,
                                    pollDownlink: link?.sendMode == .poll, timing: timing)
        var flush = false
        var closing = false
        for action in actions {
            switch action {
            case .closeForDeadline(let seconds):
                closing = true
                link?.close(.deadlineExpired, reason: "no data frame from agent for \(seconds) s")
            case .ping(let flush):
                link?.ping(flush: flush)
            case .sendHeartbeat:
                sendHeartbeat(now: now)
            case .flushLiveness:
                flush = true
            }
        }
        if let link, !closing {
            if let rtt = link.counters.lastPongRttMs { live.lastPongRttMs = rtt }
            observePong(link)
            if !unstored.isEmpty, storeRetryDue(now), let epoch = connection?.epoch { await storeReports([], epoch: epoch, now: now) }
            if outbound.hasUnsent, storeRetryDue(now) { await pump() }
            // A command unacknowledged past the ack deadline: find out why, automatically. Not
            // while a report write is in flight or reports wait to be stored: reading the agent's
            // next frames (and its acks) waits on the database then, not on the link.
            let overdue = storeHoldsReading ? nil : outbound.overdueCommand(now: now, ackDeadline: config.ackDeadline)
            if let trigger = health.autoDiagnosis(overdue: overdue, now: now, ackDeadline: config.ackDeadline) {
                Task { _ = await LinkDiagnoser(session: self).run(trigger: trigger) }
            }
            // Unacknowledged past the ack deadline: write it again on this connection.
            if let count = outbound.rewindIfOverdue(now: now, ackDeadline: config.ackDeadline) {
                logger.notice("retransmitting \(count) unacknowledged message(s)")
                await pump()
            }
        }
        scheduleWake(now: now)
        guard flush else { return (nil, nil) }
        let liveness = live
        return (liveness, takeDueMetricSamples(now: now))
    }

    /// Whether the agent's reports are being stored or wait to be: the agent's later frames are
    /// read only after, so what they would acknowledge is not evidence about the link.
    private var storeHoldsReading: Bool { storingEpoch != nil || !unstored.isEmpty }

    /// Files the session in its clock under its next duty. Scheduling is "earliest wins", so
    /// calling this whenever something may have moved a duty earlier is always safe.
    private func scheduleWake(now: Date) {
        guard let clock else { return }
        // An owed ack, or items the pump could not send (the store failed): the next tick; while
        // the database is away, the retry time.
        let deadline = config.ackDeadline
        let storeWork = outbound.hasUnsent || !unstored.isEmpty
        guard let due = schedule.nextDue(
            now: now, lastDataIn: lastDataIn, immediate: outbound.ackOwed || (storeWork && storeRetryAt == nil), timing: timing,
            others: [
                storeWork ? storeRetryAt : nil,
                outbound.retransmitDue(ackDeadline: deadline),
                storeHoldsReading ? nil : health.autoDiagnosisDue(oldestCommandWrite: outbound.oldestCommandWrite, ackDeadline: deadline),
            ]
        ) else { return }
        clock.schedule(self, at: due)
    }

    private func sendHeartbeat(now: Date) {
        guard let current = connection else { return }
        absorbHeartbeats()  // for the latest peer heartbeat to echo
        heartbeatCounter += 1
        outbound.ackSent()
        current.link.send(Envelope(.heartbeat(Heartbeat(id: heartbeatCounter, echo: lastPeerHeartbeat, time: now.timeIntervalSince1970)), ack: inbound.lastSeq))
    }

    /// Writes the liveness now, on its own (a detach: the last word until the next connection).
    private func flushLiveness(now: Date) async {
        schedule.flushed(now: now)
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
            pendingOutbound: outbound.pendingCount, remoteAddress: connection?.link.remoteDescription,
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

    /// On first use after a server start, the stream is rebuilt from the store: everything queued or
    /// sent but never acknowledged goes out again (the agent's journal drops what it already has).
    private func loadIfNeeded() async throws {
        guard !loaded else { return }
        loaded = true
        do {
            let pending = try await store.undeliveredCommands(agentId: agentId)
            for record in pending where record.agentId == agentId {
                outbound.add(record)
            }
        } catch {
            loaded = false
            throw error
        }
    }
}
