import Foundation
import RMMAgent
import RMMProtocol
import RMMTransport

extension SimAgent {
    /// Why an agent stops for good.
    enum Stop: Error {
        case notEnrolled
        case serverKeyMismatch
    }

    /// Connects and reconnects until cancelled or refused for good, as `AgentRuntime.run`:
    /// bounded parallel connects, full-jitter backoff, the server's close hints applied.
    func run(fleet: SimFleet) async {
        let counters = fleet.counters
        var reconnect = ReconnectLoop(minBackoff: fleet.options.minBackoff, maxBackoff: fleet.options.maxBackoff)
        var rotation = ServerRotation(first: fleet.options.endpoint, others: fleet.options.otherServers, spread: .random(in: 0...UInt64.max))
        while !Task.isCancelled {
            setPhase(.waiting, counters: counters)
            let slots: ConnectSlots
            do {
                slots = try await ConnectSlots.acquire(global: fleet.gate, address: addressGate)
            } catch {
                break
            }
            setPhase(.connecting, counters: counters)
            counters.update { $0.connectAttempts += 1 }
            let outcome: ConnectAttempt
            let endpoint = rotation.next(now: Date())
            var nodes: [String]?
            do {
                outcome = .ended(try await connectOnce(to: endpoint, fleet: fleet, slots: slots, nodes: &nodes))
            } catch let stop as Stop {
                slots.release()
                fleet.logger.error("\(name) stops: \(stop == .notEnrolled ? "not enrolled and no --enroll-token" : "the server's signing key does not match the pinned one")")
                setPhase(.stopped, counters: counters)
                return
            } catch TransportError.answerLost(let why) {
                counters.tallyClose(code: "connect", reason: why)
                outcome = .answerLost(why)
            } catch {
                counters.tallyClose(code: "connect", reason: "\(error)")
                outcome = .failed
            }
            slots.release()
            if let nodes {
                // Only nodes with the fleet's own scheme: its one TLS trust is for that.
                let usable = nodes.compactMap { LearnedNodes.endpoint($0, allowPlain: fleet.options.allowPlain) }
                rotation.learn(usable.filter { $0.secure == fleet.options.endpoint.secure })
            }
            rotation.record(ServerRotation.outcome(of: outcome, allowPlain: fleet.options.allowPlain), now: Date())
            switch outcome {
            case .ended(.ended(let closure, let welcomed, _, _)):
                // Ended by our own shutdown: neither a close to count nor a reconnect.
                if Task.isCancelled { break }
                counters.tallyClose(code: closure.code.map(String.init) ?? "none", reason: closure.description)
                counters.update {
                    if welcomed { $0.reconnects += 1 } else { $0.connectFailures += 1 }
                }
            case .ended(.refused(let closure)):
                counters.tallyClose(code: closure.code.map(String.init) ?? "none", reason: closure.description)
            case .answerLost, .failed:
                counters.update { $0.connectFailures += 1 }
            }
            if Task.isCancelled, case .ended(.ended) = outcome { break }
            switch reconnect.next(after: outcome, policy: policy, now: Date()) {
            case .stop(let closure):
                fleet.logger.warning("\(name) refused by the server: \(LogSafe.describe(closure))")
                setPhase(.stopped, counters: counters)
                return
            case .retry(let delay):
                if Task.isCancelled { break }
                setPhase(.backingOff, counters: counters)
                try? await Task.sleep(for: .milliseconds(Int(delay * 1000)))
            }
        }
        shutDown()
        setPhase(.idle, counters: counters)
    }

    /// One connection: handshake, then the message loop until the link closes (as `AgentConnection.run`).
    /// `nodes` is set to the welcome's node list when the server sent one.
    private func connectOnce(to endpoint: ServerEndpoint, fleet: SimFleet, slots: ConnectSlots, nodes: inout [String]?) async throws -> SessionEnd {
        let options = fleet.options
        let settings = policy.nextConnection(now: Date())
        let link = try await WebSocketConnector.connect(
            to: endpoint, tls: fleet.tls, downlink: settings.mode, maxSegmentSize: settings.mss,
            answerTimeout: .milliseconds(Int64(options.handshakeTimeout * 1000)), sourceAddress: sourceAddress
        )
        beginHandshake(link, deadline: Date().addingTimeInterval(options.handshakeTimeout))
        var events = link.events.makeAsyncIterator()
        // A ping right away: if the challenge never comes but the pong does, the path filters data.
        link.ping()
        var handshake = ClientHandshake()
        guard case .answer(let challenge) = handshake.receive(await events.next()) else {
            endHandshake()
            return SessionEnd.of(link, welcomed: false, quiet: false)
        }
        link.markHandled()
        let (stream, received) = helloState()
        let facts = AgentFacts(name: name, hostname: fleet.hostname, os: fleet.os, version: options.version)
        guard let answer = try HandshakeAnswer.envelope(
            to: challenge, agentId: agentId, key: try signingKey(), enrollToken: options.enrollToken, facts: facts, stream: stream, received: received
        ) else {
            endHandshake()
            link.close(.normal, reason: "not enrolled")
            throw Stop.notEnrolled
        }
        link.send(answer)
        guard case .welcome(let welcome) = handshake.receive(await events.next()) else {
            endHandshake()
            return SessionEnd.of(link, welcomed: false, quiet: false, challenged: true)
        }
        link.markHandled()
        // The server must hold the key pinned at enrollment (carried by the enrollment token).
        let expected = fleet.expectedServerKey
        switch ClientHandshake.judge(welcome, expectedKey: expected, enrolledAs: agentId) {
        case .wrongServerKey(let mismatch):
            endHandshake()
            link.close(.authenticationFailed, reason: mismatch)
            throw Stop.serverKeyMismatch
        case .wrongAgent(let reason):
            endHandshake()
            fleet.logger.error("\(name): \(reason); closing the connection")
            link.close(.authenticationFailed, reason: reason)
            return SessionEnd.of(link, welcomed: false, quiet: false, challenged: true)
        case .accept:
            break
        }
        if agentId != welcome.agentId {
            if agentId == nil { fleet.counters.update { $0.enrolled += 1 } }
            fleet.store.enrolled(index, agentId: welcome.agentId)
        }
        fleet.store.pin(serverKey: expected ?? welcome.serverKey, tlsTrust: fleet.tls?.description)
        nodes = welcome.nodes
        // The slot bounds handshakes in flight, not sessions.
        slots.release()
        attach(link, welcome: welcome, capOverride: settings.cap, fleet: fleet, now: Date())
        setPhase(.connected, counters: fleet.counters)

        while let event = await events.next() {
            guard case .message(let envelope) = event else { break }
            await handle(envelope, from: link, fleet: fleet)
            link.markHandled()
        }
        if Task.isCancelled { shutDown() }
        let quiet = detach(link, counters: fleet.counters)
        return SessionEnd.of(link, welcomed: true, quiet: quiet)
    }
}

/// The connect slots one attempt holds (its address's, then the fleet's), given back exactly once.
/// Not Sendable: it belongs to the one task making the attempt.
final class ConnectSlots {
    private let global: ConnectGate
    private let address: ConnectGate?
    private var released = false

    private init(global: ConnectGate, address: ConnectGate?) {
        self.global = global
        self.address = address
    }

    static func acquire(global: ConnectGate, address: ConnectGate?) async throws -> ConnectSlots {
        // Always the address first, then the fleet: one order, so no two attempts wait on each other.
        try await address?.acquire()
        do {
            try await global.acquire()
        } catch {
            address?.release()
            throw error
        }
        return ConnectSlots(global: global, address: address)
    }

    func release() {
        guard !released else { return }
        released = true
        global.release()
        address?.release()
    }
}
