import Foundation
import Logging
import RMMProtocol
import RMMStore
import RMMTransport

/// Authenticates a fresh agent connection (challenge → hello or enroll), then has the link hand each
/// later message to the agent's session, in order.
struct AgentHandshake: Sendable {
    let store: any AgentStore & LivenessStore
    let registry: SessionRegistry
    let settings: ServerSettings
    let logger: Logger
    let serverVersion: String
    /// Per-address limits: failed authentications are counted here, and the connection's slot
    /// among its address's unauthenticated connections is given back once the agent authenticates.
    let limiter: AddressLimiter
    /// Runs after the agent's record was looked up and before its session attaches: lets tests
    /// put a revocation exactly there. Nil in the server.
    var afterLookup: (@Sendable (String) async -> Void)? = nil
    /// Where `gururmm doctor`'s enrollment token is checked (never used up); nil: probe sessions are refused.
    var tokens: (any TokenStore)? = nil

    func run(_ link: WebSocketLink, request: AgentUpgradeRequest, slot: ConnectionSlot) async {
        if let block = limiter.block(for: slot.address, now: .now) {
            logger.debug("refused agent connection from \(link.remoteDescription): \(block.reason)")
            registry.metrics.refused(by: .failedAuthPerAddress)
            link.close(.rateLimited, reason: block.reason)
            return
        }
        let nonce = AgentProof.makeNonce()
        let opened = Date()
        link.send(Envelope(.challenge(Challenge(nonce: nonce, serverVersion: serverVersion))))
        // The handshake deadline: an agent that does not authenticate in time is closed.
        let timer = Task {
            try await Task.sleep(for: .seconds(settings.handshakeTimeout))
            link.close(.handshakeTimeout, reason: "no hello within \(Int(settings.handshakeTimeout)) s")
        }
        defer { timer.cancel() }
        var events = link.events.makeAsyncIterator()
        guard let first = await events.next() else {
            noteIncomplete(link, request: request, address: slot.address, opened: opened, reason: "connection ended")
            return
        }
        guard case .message(let envelope) = first else {
            // Input the link could not decode (1002, 1007, 1009, …) counts as a failed attempt.
            if case .closed(let closure) = first, !closure.byPeer, let code = closure.code.flatMap(CloseCode.init(rawValue:)),
               Self.countsAsFailure(code) {
                noteFailure(from: slot.address)
            }
            if case .closed(let closure) = first {
                noteIncomplete(link, request: request, address: slot.address, opened: opened, reason: closure.description)
            }
            return
        }
        link.markHandled()
        let admitted: (agentId: String, facts: AgentFacts, stream: String, peerSaw: StreamPosition?)
        switch envelope.message {
        case .hello(let hello):
            let agent: AgentRecord
            switch await lookup(hello.agentId) {
            case .found(let found):
                agent = found
            case .unknown:
                refuse(link, .authenticationFailed, "unknown agent id \(LogSafe.text(hello.agentId, limit: 64)); enroll again with a token", from: slot)
                return
            case .databaseAway(let why):
                refuseForNow(link, why, from: slot)
                return
            }
            if agent.revokedAt != nil {
                refuse(link, .revoked, "agent \(agent.id) is revoked", from: slot)
                return
            }
            guard AgentProof.verify(signature: hello.signature, nonce: nonce, agentId: hello.agentId, publicKey: agent.publicKey) else {
                refuse(link, .authenticationFailed, "signature does not match the key enrolled for \(agent.id)", from: slot)
                return
            }
            admitted = (agent.id, hello.facts, hello.stream, hello.received)
        case .enroll(let enroll):
            guard AgentProof.verify(signature: enroll.signature, nonce: nonce, agentId: enroll.publicKey, publicKey: enroll.publicKey) else {
                refuse(link, .authenticationFailed, "enrollment signature does not match the public key", from: slot)
                return
            }
            do {
                let agent = try await store.enrollAgent(
                    tokenHash: CommandService.sha256Hex(EnrollmentToken(parsing: enroll.token).secret),
                    publicKey: enroll.publicKey, facts: enroll.facts, now: Date(), remote: link.remoteDescription
                )
                if agent.revokedAt != nil {
                    refuse(link, .revoked, "agent \(agent.id) is revoked", from: slot)
                    return
                }
                logger.info("agent enrolled", metadata: ["agent": "\(agent.id)", "name": "\(LogSafe.text(agent.name))"])
                admitted = (agent.id, enroll.facts, enroll.stream, nil)
            } catch StoreError.unavailable(let why) {
                // Not a refusal (4001 would make the agent give up for good): it enrolls again
                // with the same key, which returns the same agent if this enrollment committed.
                refuseForNow(link, why, from: slot)
                return
            } catch let error as StoreError {
                refuse(link, .authenticationFailed, "enrollment refused: \(error.description)", from: slot)
                return
            } catch {
                refuse(link, .internalError, "enrollment failed on the server", from: slot)
                logger.error("enrollment failed: \(error)")
                return
            }
        case .doctor(let doctor):
            await runProbeSession(link, doctor, events: &events, slot: slot, handshakeTimer: timer)
            return
        default:
            refuse(link, .protocolError, "expected hello or enroll first, got '\(envelope.message.type)'", from: slot)
            return
        }
        timer.cancel()
        slot.release()
        link.pollQueue?.markOwnerAuthenticated()
        link.peerAuthenticated()
        let record: AgentRecord
        do {
            record = try await store.recordConnect(agentId: admitted.agentId, facts: admitted.facts, remote: link.remoteDescription, now: Date())
        } catch {
            logger.error("could not record connect of \(admitted.agentId): \(error)")
            refuse(link, .internalError, "server could not record the connection; retry", from: slot)
            return
        }
        let session = await registry.session(for: record.id)
        // After a size blackhole the agent must come back with small packets before it gets a
        // session: a short close passes where the welcome (and any command) would not.
        if let limits = await session.requiredPacketLimits(agentMSS: request.mss) {
            refuse(link, .shrinkPackets, limits, from: slot)
            return
        }
        await afterLookup?(record.id)
        // A shutdown that began during the handshake: the gateway closed the sessions it had.
        if await registry.isShuttingDown {
            logger.debug("closing agent connection from \(link.remoteDescription): the server is shutting down")
            link.close(.serverShutdown, reason: await registry.shutdownCloseReason())
            return
        }
        // Refused (4006) if the agent was revoked since its lookup above.
        guard let heartbeats = await session.attach(
            link: link, epoch: record.epoch, agentStream: admitted.stream, peerSaw: admitted.peerSaw, now: Date(), name: record.name
        ) else {
            logger.notice("refused agent connection from \(link.remoteDescription): agent \(record.id) was refused as it attached (revoked during its handshake, or a hello claiming more than was sent)")
            return
        }
        // An older connection on another node closes at once rather than at its next `sent`.
        if registry.clustered { await registry.signals.publish(.superseded(agentId: record.id, epoch: record.epoch)) }
        // An agent's ack, started and result often arrive in one read: stored in one write. Its
        // routine heartbeats stay on the event loop until the session looks (`HeartbeatMailbox`).
        link.deliverInBatches(sideline: heartbeats.take)
        // This task ends here and the link pushes the rest from short-lived tasks: a task parked
        // for the connection's lifetime would keep the slabs of its deepest async stack (this
        // handshake, `attach`, `handle`: about 33 KiB per idle agent, measured with heaptrack).
        let epoch = record.epoch
        let metrics = registry.metrics
        link.deliver { event in
            switch event {
            case .message(let envelope):
                await session.handle(envelope, epoch: epoch, now: Date())
                link.markHandled()
            case .messages(let envelopes):
                await session.handle(envelopes, epoch: epoch, now: Date())
                link.markHandled(envelopes.count)
            case .closed(let closure):
                metrics.closed(closure)
                await session.detach(epoch: epoch, closure: closure, now: Date())
            }
        }
        // Shutdown began while the session attached: the gateway may have closed it before this
        // connection was on it. Looked at after the attach, so one of the two closes it.
        if await registry.isShuttingDown { link.close(.serverShutdown, reason: await registry.shutdownCloseReason()) }
    }

    /// Keeps what an attempt that ended before any hello showed, for its agent to claim later by
    /// the connection id only it was sent (see `HandshakeBook`).
    private func noteIncomplete(_ link: WebSocketLink, request: AgentUpgradeRequest, address: String, opened: Date, reason: String) {
        let counters = link.counters
        let fact = HandshakeFact(
            connectionId: link.connectionId.flatMap { $0.isEmpty ? nil : $0 }, address: address, stage: .challenge, downlinkMode: request.downlink,
            challengeWritten: true, controlFramesIn: counters.controlFramesIn, dataFramesIn: counters.dataFramesIn,
            closeReason: String(reason.prefix(200)), openedAt: opened.timeIntervalSince1970, closedAt: Date().timeIntervalSince1970
        )
        registry.handshakeBook.note(fact)
        logger.debug("agent connection from \(address) ended before a hello", metadata: [
            "connection": "\(fact.connectionId ?? "-")", "control_frames_in": "\(fact.controlFramesIn)", "why": "\(LogSafe.text(reason, limit: 200))",
        ])
    }

    /// The first handler for a new agent-port connection (see `AgentConnectionGuard`).
    func connectionGuard(behindTLS: Bool) -> AgentConnectionGuard {
        AgentConnectionGuard(limiter: limiter, requestTimeout: settings.handshakeTimeout, logger: logger, book: registry.handshakeBook, behindTLS: behindTLS,
                             metrics: registry.metrics, trusted: settings.trustedProxies)
    }

    /// What looking an agent up found.
    private enum Lookup {
        case found(AgentRecord)
        case unknown
        /// The store could not say (`StoreError.unavailable`): the agent must retry, not give up.
        case databaseAway(String)
    }

    private func lookup(_ agentId: String) async -> Lookup {
        do {
            return try await store.agent(id: agentId).map(Lookup.found) ?? .unknown
        } catch StoreError.unavailable(let why) {
            return .databaseAway(why)
        } catch {
            logger.error("agent lookup failed: \(error)")
            return .unknown
        }
    }

    /// Closes an agent the server cannot authenticate now, its database away, with a code the
    /// agent retries after its backoff (the reason stays short: a close frame holds 123 bytes).
    func refuseForNow(_ link: WebSocketLink, _ why: String, from slot: ConnectionSlot) {
        logger.info("agent connection from \(link.remoteDescription) closed for now: \(LogSafe.describe(why, limit: 400))")
        refuse(link, .internalError, "server cannot reach its database now; retry", from: slot)
    }

    func refuse(_ link: WebSocketLink, _ code: CloseCode, _ reason: String, from slot: ConnectionSlot) {
        logger.notice("refused agent connection from \(link.remoteDescription): \(reason)")
        link.close(code, reason: reason)
        if Self.countsAsFailure(code) { noteFailure(from: slot.address) }
    }

    private func noteFailure(from address: String) {
        if limiter.recordFailure(address, now: .now) {
            logger.warning("\(limiter.maxFailures) failed agent authentications from \(address) within a minute; refusing its new connections with 4009 for now")
        }
    }

    /// Refusals before authentication that count against the address: wrong credentials or
    /// tokens, and input that is not the protocol.
    static func countsAsFailure(_ code: CloseCode) -> Bool {
        switch code {
        case .authenticationFailed, .protocolError, .unsupportedData, .invalidPayload, .policyViolation, .messageTooBig: return true
        default: return false
        }
    }
}
