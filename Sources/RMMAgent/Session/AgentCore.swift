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

    private var outbox = ReliableOutbox<Message>(stream: UUID().uuidString.lowercased())
    private var inbox = ReliableInbox()
    private var link: WebSocketLink?
    private(set) var config: AgentConfig
    private var heartbeatCounter = 0
    private var lastServerHeartbeat: Int?
    private var timers = SessionTimers(connectedAt: Date())
    private var ackDirty = false
    /// Results waiting for the server's ack, by seq, so the journal can forget their output once stored.
    private var resultSeqs: [Int: String] = [:]

    public init(journal: CommandJournal, executor: CommandExecutor, metrics: any HostMetricsSource = currentHostMetricsSource(), logger: Logger) {
        self.journal = journal
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
        outbox.resume(peerSaw: welcome.received)
        markReported()
        lastServerHeartbeat = welcome.heartbeatId
        // Resend what the server has not acknowledged before anything new: the server takes seqs
        // in increasing order only, so a newer message written first would make these look old.
        for item in outbox.unacknowledged {
            link.send(Envelope(item.item, seq: item.seq, ack: inbox.lastSeq))
        }
        await apply(config: welcome.config, signature: welcome.configSignature)
        sendHeartbeat(now: now)
        link.ping()
        logger.info("session resumed", metadata: ["epoch": "\(welcome.epoch)", "resent": "\(outbox.unacknowledged.count)"])
    }

    func detach(_ link: WebSocketLink) {
        if self.link === link { self.link = nil }
    }

    /// Handles one server message, in arrival order.
    func handle(_ envelope: Envelope, from link: WebSocketLink) async {
        guard self.link === link else { return }
        if let ack = envelope.ack {
            outbox.acknowledge(through: ack)
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
                try await apply(message)
                inbox.handled(seq)
                ackDirty = true
            } catch {
                // Without a durable journal entry the command must not be acked; the server resends it.
                logger.error("could not handle \(message.type) seq \(seq): \(error); reconnecting")
                link.close(.internalError, reason: "agent could not journal a message")
            }
            return
        }
        if let heartbeat = UnsequencedMessage.handle(message, on: link) { lastServerHeartbeat = heartbeat }
    }

    private func apply(_ message: Message) async throws {
        switch message {
        case .command(let spec):
            try await accept(spec)
        case .cancel(let cancel):
            try await cancelCommand(cancel)
        case .configUpdate(let update):
            await apply(config: update.config, signature: update.signature)
        default:
            link?.close(.protocolError, reason: "'\(message.type)' is not something a server sends")
        }
    }

    /// Who this agent is and the server key it pinned: work must be signed for this agent with it.
    private var trusted: (agentId: String, serverKey: String)?

    func trust(agentId: String, serverKey: String) {
        trusted = (agentId, serverKey)
    }

    /// Why a command must not run (bad signature, past its signed expiry), or nil.
    private func refusal(_ spec: CommandSpec) -> String? {
        guard let trusted else { return "no pinned server key" }
        if let problem = WorkSigning.problem(signature: spec.signature, payload: WorkSigning.payload(agentId: trusted.agentId, command: spec), publicKey: trusted.serverKey) {
            return "signature check failed: \(problem)"
        }
        // Clocks drift; five minutes of skew is tolerated, replays after that are not.
        if let expiresAt = spec.expiresAt, Date().timeIntervalSince1970 > Double(expiresAt) + 300 {
            return "signed expiry has passed"
        }
        return nil
    }

    /// Journal first, then ack, then run: a command id is executed at most once, ever.
    private func accept(_ spec: CommandSpec) async throws {
        guard try await journal.admit(spec.commandId) else {
            send(.commandAck(CommandAck(commandId: spec.commandId, duplicate: true)))
            return
        }
        send(.commandAck(CommandAck(commandId: spec.commandId, duplicate: false)))
        if let refusal = refusal(spec) {
            logger.error("refused command \(LogSafe.text(spec.commandId)): \(refusal)")
            try await finish(CommandResult(commandId: spec.commandId, status: .rejected, reason: refusal, finishedAt: Date().timeIntervalSince1970))
            return
        }
        if spec.validForSeconds <= 0 {
            try await finish(CommandResult(commandId: spec.commandId, status: .rejected, reason: "arrived after its expiry", finishedAt: Date().timeIntervalSince1970))
            return
        }
        if case .rejected(let reason) = await executor.submit(spec) {
            try await finish(CommandResult(commandId: spec.commandId, status: .rejected, reason: reason, finishedAt: Date().timeIntervalSince1970))
        }
    }

    private func cancelCommand(_ cancel: Cancel) async throws {
        switch await journal.entry(cancel.commandId) {
        case nil:
            // Cancelled before it arrived: remember the id so a late copy is never run.
            _ = try await journal.admit(cancel.commandId)
            try await finish(CommandResult(commandId: cancel.commandId, status: .cancelled, reason: "cancelled before it reached the agent: \(cancel.reason)", finishedAt: Date().timeIntervalSince1970))
        case .admitted?, .started?:
            await executor.cancel(commandId: cancel.commandId, reason: cancel.reason)
        case .finished?, .reported?:
            break
        }
    }

    /// A message cap the link health policy imposes (after a size blackhole), below the config's.
    private var messageCapOverride: Int?

    func setMessageCapOverride(_ cap: Int?) {
        messageCapOverride = cap
    }

    /// Applies a config only if the pinned server key signed it for this agent.
    private func apply(config newConfig: AgentConfig, signature: String?) async {
        if let trusted {
            let payload = (try? WorkSigning.payload(agentId: trusted.agentId, config: newConfig)) ?? Data()
            if let problem = WorkSigning.problem(signature: signature, payload: payload, publicKey: trusted.serverKey) {
                logger.error("refused config version \(newConfig.version): \(problem); keeping version \(config.version)")
                return
            }
        }
        await apply(config: newConfig)
    }

    private func apply(config newConfig: AgentConfig) async {
        config = newConfig
        link?.setMaxMessageBytes(min(newConfig.maxMessageBytes, messageCapOverride ?? Int.max))
        await executor.updateLimits(ExecutorLimits(
            maxConcurrent: newConfig.maxConcurrentCommands, maxQueued: newConfig.maxQueuedCommands,
            outputCapBytes: newConfig.outputCapBytes, outputChunkBytes: newConfig.outputChunkBytes,
            environment: newConfig.commandEnvironment
        ))
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
    /// Returns false when the connection should be considered dead.
    func tick(now: Date) async -> TickOutcome {
        guard let link else { return .dead }
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
            let heartbeat = heartbeatDue || ackDirty
            // A ping due with a heartbeat rides the heartbeat's flush: one segment, so the server
            // reads both at once.
            if ping { link.ping(flush: !(heartbeat && link.sendMode != .poll)) }
            if heartbeat { sendHeartbeat(now: now, withMetrics: sample) }
            return .alive
        }
    }

    /// What a tick found.
    enum TickOutcome {
        case alive
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
