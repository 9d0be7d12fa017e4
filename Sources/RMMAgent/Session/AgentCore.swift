import Foundation
import Logging
import RMMProtocol
import RMMTransport

/// The agent's session: it outlives connections. It owns the reliable outbox and inbox, the journal
/// and the executor, and is the one place where server messages turn into work. The connection's
/// reader only hands messages here; execution happens in the executor, never in the reader.
public actor AgentCore {
    private let journal: CommandJournal
    private let executor: CommandExecutor
    private let metrics: any HostMetricsSource
    private var logger: Logger
    /// The newest config version applied, kept in the state directory.
    private var appliedConfigVersion: AppliedConfigVersion

    private var outbox = ReliableOutbox<Message>(stream: UUID().uuidString.lowercased())
    private var inbox = ReliableInbox()
    private var link: WebSocketLink?
    private(set) var config: AgentConfig
    private var heartbeatCounter = 0
    private var lastServerHeartbeat: Int?
    private var timers = SessionTimers(connectedAt: Date())
    /// A handled reliable message was not acknowledged by anything sent since: the ticker owes a
    /// heartbeat at once (setting it wakes the ticker).
    private var ackDirty = false {
        didSet { if ackDirty { timerWake.wake() } }
    }
    /// Wakes the session's ticker before its deadline when something new falls due sooner.
    nonisolated let timerWake = DeadlineWait()
    /// Results waiting for the server's ack, by seq, so the journal can forget their output once stored.
    private var resultSeqs: [Int: String] = [:]

    public init(
        journal: CommandJournal, executor: CommandExecutor, appliedConfigVersion: AppliedConfigVersion,
        metrics: any HostMetricsSource = currentHostMetricsSource(), logger: Logger
    ) {
        self.journal = journal
        self.appliedConfigVersion = appliedConfigVersion
        self.executor = executor
        self.metrics = metrics
        self.logger = logger
        self.config = AgentConfig.defaults
    }

    /// At start: results that finished but were never confirmed, and commands cut off by a restart,
    /// go into the outbox before the first connection.
    public func recover() async throws {
        for result in await journal.unreportedResults() { enqueueResult(result) }
        for result in try await journal.recoverInterrupted(now: Date().timeIntervalSince1970) {
            logger.notice("command \(result.commandId) was interrupted by an agent restart")
            enqueueResult(result)
        }
    }

    /// Consumes the executor's events for the life of the agent.
    public func runExecutorEvents() async {
        for await event in executor.events {
            await handleExecution(event)
        }
    }

    // MARK: connection

    /// What the agent tells the server about its streams when it says hello.
    func helloState() -> (stream: String, received: StreamPosition?) {
        (outbox.stream, inbox.position)
    }

    /// A connection was welcomed: adopt it, apply config, resend everything unacknowledged.
    func attach(_ link: WebSocketLink, welcome: Welcome, now: Date) async {
        self.link = link
        timers = SessionTimers(connectedAt: now)
        inbox.peerStream(welcome.stream)
        guard outbox.resume(peerSaw: welcome.received) else {
            // Taking it would forget results the server never stored.
            logger.error("the welcome claims seq \(welcome.received?.seq ?? 0) received, beyond the last message sent (\(outbox.lastSeq)); reconnecting")
            link.close(.protocolError, reason: "welcome claims seq \(welcome.received?.seq ?? 0) received, beyond the last message sent (\(outbox.lastSeq))")
            return
        }
        markReported()
        lastServerHeartbeat = welcome.heartbeatId
        // Resend what the server has not acknowledged before anything new: the server takes seqs
        // in increasing order only, so a newer message written first would make these look old.
        for item in outbox.unacknowledged {
            link.send(Envelope(item.item, seq: item.seq, ack: inbox.lastSeq))
        }
        await apply(config: welcome.config, signature: welcome.configSignature, at: WorkVerifier.welcomePosition(stream: welcome.stream))
        sendHeartbeat(now: now)
        link.ping()
        logger.info("session resumed", metadata: ["epoch": "\(welcome.epoch)", "resent": "\(outbox.unacknowledged.count)"])
    }

    func detach(_ link: WebSocketLink) {
        if self.link === link { self.link = nil }
    }

    /// Handles one server message, in arrival order. A reliable message moves the receive position
    /// only once its effect is durable and its signature proved it genuine: a forged frame, whatever
    /// `seq` it claims, leaves no trace but its refusal (the envelope's `ack`, which is not signed,
    /// is taken before: acks are not work).
    func handle(_ envelope: Envelope, from link: WebSocketLink) async {
        guard self.link === link else { return }
        if let ack = envelope.ack {
            guard outbox.acknowledge(through: ack) else {
                // Taking it would forget results the server never stored.
                logger.error("the server acknowledged seq \(ack), beyond the last message sent (\(outbox.lastSeq)); reconnecting")
                link.close(.protocolError, reason: "ack \(ack) is beyond the last message sent (\(outbox.lastSeq))")
                return
            }
            markReported()
        }
        let message = envelope.message
        if message.isReliable {
            guard let seq = envelope.seq else { return }
            guard inbox.isNew(seq) else {
                ackDirty = true
                return
            }
            do {
                if try await apply(message, at: StreamPosition(stream: inbox.stream ?? "", seq: seq)) {
                    inbox.handled(seq)
                    ackDirty = true
                }
            } catch {
                // Without a durable journal entry the command must not be acked; the server resends it.
                logger.error("could not handle \(message.type) seq \(seq): \(error); reconnecting")
                link.close(.internalError, reason: "agent could not journal a message")
            }
            return
        }
        if let heartbeat = UnsequencedMessage.handle(message, on: link) { lastServerHeartbeat = heartbeat }
    }

    /// Applies one reliable message; false when it was not genuine (the receive position stays).
    private func apply(_ message: Message, at position: StreamPosition) async throws -> Bool {
        switch message {
        case .command(let spec):
            return try await accept(spec, at: position)
        case .cancel(let cancel):
            return try await cancelCommand(cancel, at: position)
        case .configUpdate(let update):
            return await apply(config: update.config, signature: update.signature, at: position)
        default:
            link?.close(.protocolError, reason: "'\(message.type)' is not something a server sends")
            return false
        }
    }

    /// How the agent checks signed work: its own agent id and the server key it pinned.
    private var verifier: WorkVerifier?

    func trust(_ verifier: WorkVerifier) {
        self.verifier = verifier
    }

    private func refuseUnverifiable(_ what: String) -> Bool {
        logger.error("refused \(what): no pinned server key")
        return false
    }

    /// Told of every frame refused as forged (its reason), so the link reports can say the path
    /// alters what the server sends. Nil until a connection sets it.
    private var forgeryObserver: (@Sendable (String) -> Void)?

    /// Sets who hears of refused forgeries (see `forgeryObserver`).
    func observeForgeries(_ observer: @escaping @Sendable (String) -> Void) {
        forgeryObserver = observer
    }

    /// Told of every config applied, so loops timed by it (the link reporter) re-plan at once
    /// instead of sleeping on the old rhythm. Nil until a connection sets it.
    private var configObserver: (@Sendable () -> Void)?

    /// Sets who hears of applied configs (see `configObserver`).
    func observeConfigs(_ observer: @escaping @Sendable () -> Void) {
        configObserver = observer
    }

    /// Ids whose frames failed the signature check, so a later copy is refused alike: the server
    /// was told `rejected`, and must not then see the command run. Memory only, bounded.
    private var forgedIds = RecentIds(capacity: 1024)

    /// Verify, then journal, then ack, then run (`CommandAdmission` decides): a command id is
    /// executed at most once, ever, and nothing about a command that fails its check is journaled
    /// or acked. Returns false when the frame was not genuine.
    private func accept(_ spec: CommandSpec, at position: StreamPosition) async throws -> Bool {
        let now = Date().timeIntervalSince1970
        let check = WorkCheck.command(spec, at: position, verifier: verifier, now: now)
        // Without a key nothing is trusted, the journal included: no lookup.
        var held = false
        if check != .unverifiable { held = await journal.entry(spec.commandId) != nil }
        switch CommandAdmission.decide(check, held: held, forgedEarlier: forgedIds.contains(spec.commandId)) {
        case .forged(let why, let remember, let report):
            if check != .unverifiable { forgeryObserver?("command \(spec.commandId): \(why)") }
            if remember { forgedIds.insert(spec.commandId) }
            if report {
                reportRefusal(spec.commandId, why, now: now)
            } else {
                logger.error("refused a forged copy of command \(LogSafe.text(spec.commandId)): \(why)")
            }
            return false
        case .duplicate:
            send(.commandAck(CommandAck(commandId: spec.commandId, duplicate: true)))
        case .reject(let why):
            reportRefusal(spec.commandId, why, now: now)
        case .admit:
            switch try await journal.admit(spec.commandId, forgetAfter: Double(spec.expiresAt) + WorkLimits.clockSkewSeconds) {
            case .duplicate:
                send(.commandAck(CommandAck(commandId: spec.commandId, duplicate: true)))
            case .full(let why):
                reportRefusal(spec.commandId, why, now: now)
            case .admitted:
                send(.commandAck(CommandAck(commandId: spec.commandId, duplicate: false)))
                if case .rejected(let reason) = await executor.submit(spec) {
                    try await finish(CommandResult(commandId: spec.commandId, status: .rejected, reason: reason, finishedAt: Date().timeIntervalSince1970))
                }
            }
        }
        return true
    }

    /// Tells the server a command was refused without journaling it (nothing about it is kept).
    private func reportRefusal(_ commandId: String, _ reason: String, now: Double) {
        logger.error("refused command \(LogSafe.text(commandId)): \(reason)")
        enqueueResult(CommandResult(commandId: commandId, status: .rejected, reason: reason, finishedAt: now))
    }

    /// Returns false when the cancel was not genuine (`CancelAdmission` decides).
    private func cancelCommand(_ cancel: Cancel, at position: StreamPosition) async throws -> Bool {
        let check = WorkCheck.cancel(cancel, at: position, verifier: verifier)
        var entry: CommandJournal.Entry?
        if check.forgery == nil { entry = await journal.entry(cancel.commandId) }
        let standing: CancelAdmission.Standing
        switch entry {
        case nil: standing = .unknown
        case .admitted?, .started?: standing = .active
        case .finished?, .reported?: standing = .finished
        }
        let now = Date().timeIntervalSince1970
        switch CancelAdmission.decide(check, cancel: cancel, standing: standing, now: now) {
        case .forged(let why):
            if check == .unverifiable { return refuseUnverifiable("cancel for \(LogSafe.text(cancel.commandId))") }
            logger.error("refused cancel of \(LogSafe.text(cancel.commandId)): \(why)")
            return false
        case .cancelBeforeArrival(let reason, let forgetAfter):
            // Remembered so a late copy is never run (for as long as any copy could still be accepted).
            guard case .admitted = try await journal.admit(cancel.commandId, forgetAfter: forgetAfter) else {
                logger.error("could not remember the cancel of \(LogSafe.text(cancel.commandId)): the journal is full")
                return true
            }
            try await finish(CommandResult(commandId: cancel.commandId, status: .cancelled, reason: reason, finishedAt: now))
        case .stop:
            await executor.cancel(commandId: cancel.commandId, reason: cancel.reason)
        case .nothing:
            break
        }
        return true
    }

    /// A message cap the link health policy imposes (after a size blackhole), below the config's.
    private var messageCapOverride: Int?

    func setMessageCapOverride(_ cap: Int?) {
        messageCapOverride = cap
    }

    /// Applies a config only if the pinned server key signed it for this agent at this place in
    /// the stream, and it is not older than the version already applied (which is kept on disk,
    /// so a replayed old config cannot roll a setting back, even across restarts). Returns false
    /// when the frame was not genuine.
    @discardableResult
    private func apply(config newConfig: AgentConfig, signature: String?, at position: StreamPosition) async -> Bool {
        let check = WorkCheck.config(newConfig, signature: signature, at: position, appliedVersion: appliedConfigVersion.value, verifier: verifier)
        switch ConfigAdmission.decide(check) {
        case .forged(let why):
            if check == .unverifiable { return refuseUnverifiable("config version \(newConfig.version)") }
            forgeryObserver?("config version \(newConfig.version): \(why)")
            logger.error("refused config version \(newConfig.version): \(why); keeping version \(config.version)")
            return false
        case .stale(let why):
            logger.error("refused config version \(newConfig.version): \(why); keeping version \(config.version) (an operator saves the config again to give it a newer version)")
            return true
        case .apply:
            do {
                try appliedConfigVersion.record(newConfig.version)
            } catch {
                logger.error("could not record config version \(newConfig.version) as applied: \(error); applying it all the same")
            }
            await apply(config: newConfig)
            return true
        }
    }

    private func apply(config newConfig: AgentConfig) async {
        config = newConfig
        // New intervals: the ticker and the link reporter recompute their deadlines.
        timerWake.wake()
        configObserver?()
        link?.setMaxMessageBytes(min(newConfig.maxMessageBytes, messageCapOverride ?? Int.max))
        await executor.updateLimits(ExecutorLimits(config: newConfig))
        send(.configApplied(ConfigApplied(version: newConfig.version)))
    }

    // MARK: execution events

    private func handleExecution(_ event: ExecutionEvent) async {
        switch event {
        case .started(let commandId, let pid, let time):
            do {
                try await journal.recordStarted(commandId, pid: pid)
            } catch {
                logger.error("could not journal the start of \(commandId): \(error); after a crash it would be reported as not started")
            }
            send(.started(CommandStarted(commandId: commandId, pid: pid, time: time)))
        case .output(let output):
            send(.output(output))
        case .finished(let result):
            do {
                try await finish(result)
            } catch {
                logger.error("could not journal the result of \(result.commandId): \(error)")
                enqueueResult(result)
            }
        }
    }

    private func finish(_ result: CommandResult) async throws {
        try await journal.recordFinished(result)
        enqueueResult(result)
    }

    private func enqueueResult(_ result: CommandResult) {
        // A reason longer than the wire allows would be refused by the server on every resend.
        var result = result
        result.reason = result.reason.map { WireRange.clipped($0) }
        let seq = send(.result(result))
        resultSeqs[seq] = result.commandId
    }

    /// Results the server acknowledged are stored there: the journal keeps only their ids.
    private func markReported() {
        let done = resultSeqs.filter { $0.key <= outbox.acked }
        guard !done.isEmpty else { return }
        for (seq, commandId) in done {
            resultSeqs.removeValue(forKey: seq)
            let journal = self.journal
            Task { try? await journal.recordReported(commandId) }
        }
    }

    // MARK: sending and timers

    /// Appends a reliable message and writes it if connected. Returns its seq.
    @discardableResult
    private func send(_ message: Message) -> Int {
        let seq = outbox.append(message)
        link?.send(Envelope(message, seq: seq, ack: inbox.lastSeq))
        ackDirty = false
        return seq
    }

    /// Periodic duties while connected: heartbeats with metrics, pings, and the inbound deadline.
    /// Says when the next one falls due, or that the connection is dead.
    func tick(now: Date) async -> TickOutcome {
        // A link closed under a consumer that cannot see its close event (stuck) ends here, at the
        // latest one heartbeat later.
        guard let link, link.closure == nil else { return .dead }
        let counters = link.counters
        switch timers.tick(now: now, counters: counters, config: config) {
        case .expired(let controlAlive, let reason):
            // Say so over the uplink, which may still work, then reconnect.
            logger.warning("no data frame from the server for \(Int(config.heartbeatDeadline)) s; reconnecting",
                           metadata: ["pongs": "\(counters.pongsReceived)", "control_alive": "\(controlAlive)"])
            link.close(.deadlineExpired, reason: reason)
            return controlAlive ? .downlinkQuiet : .dead
        case .duties(let heartbeatDue, let metricsDue, let ping):
            // Sampled before the ping is written: a ping waiting for a flush would count the
            // sampling in its round trip.
            let sample = metricsDue ? await metrics.sample() : nil
            let writes = SessionTimers.writes(heartbeat: heartbeatDue, metrics: metricsDue, ping: ping, ackOwed: ackDirty, sendMode: link.sendMode)
            if writes.ping { link.ping(flush: writes.flushPing) }
            if writes.heartbeat { sendHeartbeat(now: now, withMetrics: sample) }
            return .alive(next: ackDirty ? now : timers.nextDue(counters: link.counters, config: config))
        }
    }

    /// What a tick found.
    enum TickOutcome {
        /// Nothing more is due before `next` (unless the ticker is woken sooner).
        case alive(next: Date)
        /// No data and no control frames: the connection is dead.
        case dead
        /// No data frames, but control frames arrive: the path filters data.
        case downlinkQuiet
    }

    /// The heartbeat interval in force (the reporter paces itself by it).
    var heartbeatInterval: Double { config.heartbeatInterval }

    private func sendHeartbeat(now: Date, withMetrics sample: HostMetrics? = nil) {
        heartbeatCounter += 1
        ackDirty = false
        let beat = Heartbeat(id: heartbeatCounter, echo: lastServerHeartbeat, time: now.timeIntervalSince1970, metrics: sample)
        link?.send(Envelope(.heartbeat(beat), ack: inbox.lastSeq))
    }

    /// Kills running commands (agent shutdown).
    public func shutdown() async {
        await executor.shutdown()
        link?.close(.goingAway, reason: "agent shutting down")
    }
}
