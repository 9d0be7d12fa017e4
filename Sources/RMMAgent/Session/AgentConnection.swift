import Foundation
import Logging
import RMMProtocol
import RMMTransport

/// One connection's life on the agent side: challenge → hello (or enroll) → welcome → message loop,
/// with the ticker (heartbeats, deadlines) and the link reporter/watchdog beside the consumer.
/// Returns how it ended; the runtime decides whether and when to reconnect.
struct AgentConnection {
    let options: AgentOptions
    /// The node this connection goes to (`ServerRotation`'s choice).
    let endpoint: ServerEndpoint
    /// TLS trust for a wss:// server; nil for ws://.
    let tls: TLSTrust?
    let core: AgentCore
    let policy: LinkPolicy
    /// Where the welcome's node list goes.
    let learned: NodeListKeeper
    /// Runs before the consumer handles each server message (nil in the shipped agent).
    let beforeHandling: MessageGate?
    let logger: Logger

    func run(identity: inout AgentIdentity) async throws -> SessionEnd {
        let settings = policy.nextConnection(now: Date())
        let link = try await WebSocketConnector.connect(
            to: endpoint, tls: tls, downlink: settings.mode, maxSegmentSize: settings.mss,
            answerTimeout: .milliseconds(Int64(options.handshakeTimeout * 1000))
        )
        policy.noteConnected(connectionId: link.connectionId, mode: settings.mode)
        await core.setMessageCapOverride(settings.cap)
        let policy = self.policy
        let reporterWake = DeadlineWait()
        await core.observeForgeries { why in
            policy.find(.workRefused, detail: why, now: Date())
            // A new finding is reported at once.
            reporterWake.wake()
        }
        // A new heartbeat interval moves the reports' rhythm.
        await core.observeConfigs { reporterWake.wake() }
        if settings.mode != .text || settings.mss != nil {
            logger.notice("connected with downlink \(settings.mode.rawValue)\(settings.mss.map { ", mss \($0)" } ?? "")\(settings.cap.map { ", cap \($0)" } ?? "")")
        }
        var events = link.events.makeAsyncIterator()
        // A ping right away: if the challenge never comes but the pong does, the path filters data.
        link.ping()
        // Handshake deadline: a server (or proxy) that never answers must not hold us forever.
        let timer = Task {
            try await Task.sleep(for: .seconds(options.handshakeTimeout))
            link.close(.handshakeTimeout, reason: "no challenge/welcome from server within \(Int(options.handshakeTimeout)) s")
        }
        defer { timer.cancel() }

        var handshake = ClientHandshake()
        guard case .answer(let challenge) = handshake.receive(await events.next()) else {
            return closed(link, welcomed: false, quiet: false)
        }
        link.markHandled()
        let facts = await Self.facts(options: options, identity: identity)
        let (stream, received) = await core.helloState()
        guard let answer = try HandshakeAnswer.envelope(
            to: challenge, agentId: identity.agentId, key: try identity.signingKey(), enrollToken: options.enrollToken,
            facts: facts, stream: stream, received: received
        ) else {
            link.close(.normal, reason: "not enrolled")
            throw AgentError.notEnrolled
        }
        link.send(answer)

        guard case .welcome(let welcome) = handshake.receive(await events.next()) else {
            return closed(link, welcomed: false, quiet: false, challenged: true)
        }
        link.markHandled()
        timer.cancel()
        // The server must hold the key pinned at enrollment (carried by the enrollment token).
        let expectedKey = HandshakeAnswer.expectedServerKey(pinned: identity.serverKey, enrollToken: options.enrollToken)
        switch ClientHandshake.judge(welcome, expectedKey: expectedKey, enrolledAs: identity.agentId) {
        case .wrongServerKey(let mismatch):
            link.close(.authenticationFailed, reason: mismatch)
            throw AgentError.badState("the server's signing key does not match the one pinned at enrollment: refusing it (possible interception)")
        case .wrongAgent(let reason):
            logger.error("\(reason); closing the connection")
            link.close(.authenticationFailed, reason: reason)
            return closed(link, welcomed: false, quiet: false, challenged: true)
        case .accept:
            break
        }
        // The server owns the name: it may have given another than the one proposed, or an operator renamed the agent.
        let givenName = welcome.name.flatMap { AgentName.problem($0) == nil ? $0 : nil } ?? facts.name
        let renamed = identity.name != givenName
        if let nodes = welcome.nodes { learned.welcome(nodes) }
        // A plain connection (--allow-plain) never drops the TLS pin the other nodes are checked by.
        let trustChanged = tls.map { $0.description != identity.tlsTrust } ?? false
        if identity.agentId != welcome.agentId || identity.serverKey == nil || trustChanged || renamed {
            let enrolled = identity.agentId != welcome.agentId
            identity.agentId = welcome.agentId
            identity.name = givenName
            identity.serverKey = expectedKey ?? welcome.serverKey
            if let tls { identity.tlsTrust = tls.description }
            try identity.save(stateDirectory: options.stateDirectory)
            if enrolled { logger.info("enrolled as \(LogSafe.text(welcome.agentId, limit: 64))") }
            if renamed { logger.notice("the server names this agent '\(givenName)'\(givenName == facts.name ? "" : " (it proposed '\(facts.name)')")") }
        }
        if let key = identity.serverKey { await core.trust(WorkVerifier(agentId: welcome.agentId, serverKey: key)) }
        // The first working path: what the agent found on its own goes out at once, ahead of any
        // ack, so the server can note the delay on the commands it is about to deliver.
        if policy.history.findings.isEmpty == false {
            link.send(Envelope(.linkReport(await LinkReport.current(of: link, policy: policy, consumerStalledSeconds: 0))))
        }
        await core.attach(link, welcome: welcome, now: Date())

        let reportedThrough = policy.newestFindingTime
        let sessionStart = Date()
        let quiet = await runSession(link: link, reporterWake: reporterWake)
        // A session that lasted has delivered its reports: what they said need not be said again
        // (after a server restart it would read as new).
        if let reportedThrough, Date().timeIntervalSince(sessionStart) >= LinkPolicy.findingsDeliveredAfter {
            policy.forgetFindings(through: reportedThrough)
        }
        await core.detach(link)
        return closed(link, welcomed: true, quiet: quiet)
    }

    /// The consumer, the ticker and the reporter/watchdog run side by side; when one ends (link
    /// closed, deadline, watchdog) the others are cancelled — which is how a stuck consumer is torn down.
    private func runSession(link: WebSocketLink, reporterWake: DeadlineWait) async -> Bool {
        let core = self.core
        let beforeHandling = self.beforeHandling
        let reporter = LinkReporter(
            link: link, policy: policy,
            heartbeatInterval: { await core.heartbeatInterval },
            watchdogSeconds: options.watchdogSeconds,
            wake: reporterWake
        )
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                // A new iterator continues where the handshake's left off (the stream is shared, and
                // the handshake's iterator is no longer used).
                var events = link.events.makeAsyncIterator()
                while let event = await events.next() {
                    guard case .message(let envelope) = event else { break }
                    // The reporter times how long a message waits for the consumer from here.
                    reporterWake.wake()
                    await beforeHandling?(envelope)
                    if Task.isCancelled { break }
                    await core.handle(envelope, from: link)
                    link.markHandled()
                    reporterWake.wake()
                }
                return false
            }
            group.addTask {
                while !Task.isCancelled {
                    switch await core.tick(now: Date()) {
                    case .alive(let next):
                        // A floor so that a deadline that rounds to "now" cannot spin the loop.
                        await core.timerWake.wait(until: max(next, Date().addingTimeInterval(0.005)))
                    case .dead: return false
                    case .downlinkQuiet: return true
                    }
                }
                return false
            }
            group.addTask {
                await reporter.run()
                return false
            }
            let quiet = await group.next() ?? false
            group.cancelAll()
            link.abort()
            var anyQuiet = quiet
            while let other = await group.next() { anyQuiet = anyQuiet || other }
            return anyQuiet
        }
    }

    private func closed(_ link: WebSocketLink, welcomed: Bool, quiet: Bool, challenged: Bool = false) -> SessionEnd {
        SessionEnd.of(link, welcomed: welcomed, quiet: quiet, challenged: challenged)
    }

    static func facts(options: AgentOptions, identity: AgentIdentity) async -> AgentFacts {
        let host = ProcessInfo.processInfo.hostName
        let name = options.name ?? identity.name ?? host
        return AgentFacts(name: name, hostname: host, os: currentOSDescription(), version: options.version)
    }
}

/// Runs before the agent's consumer handles a server message. The shipped agent has none; tests
/// inject faults through it into an agent built from the library.
public typealias MessageGate = @Sendable (Envelope) async -> Void
