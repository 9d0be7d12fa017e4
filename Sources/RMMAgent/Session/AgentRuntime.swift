import Foundation
import Logging
import RMMProtocol
import RMMTransport

/// Runs an agent: recovers its journal, then connects and reconnects forever with jittered
/// exponential backoff, until cancelled or permanently refused, to one server node at a time
/// (`ServerRotation`: its `--server` URLs, then the nodes learned from welcomes).
public enum AgentRuntime {
    /// `beforeHandling` runs before each server message is handled; the shipped agent passes none,
    /// tests inject faults through it (a consumer that stops, as a deadlocked receive loop would).
    public static func run(options: AgentOptions, logger: Logger, beforeHandling: MessageGate? = nil) async throws {
        var identity = try AgentIdentity.loadOrCreate(stateDirectory: options.stateDirectory)
        if identity.agentId == nil && options.enrollToken == nil { throw AgentError.notEnrolled }
        // Every --server must be usable from the start (a learned node that is not is skipped).
        for endpoint in [options.endpoint] + options.otherServers {
            _ = try serverTrust(endpoint: endpoint, options: options, identity: identity)
        }
        let learned = NodeListKeeper(stateDirectory: options.stateDirectory, allowPlain: options.allowPlain, logger: logger)
        var rotation = ServerRotation(first: options.endpoint, others: options.otherServers, learned: learned.endpoints, spread: .random(in: 0...UInt64.max))
        let journal = try CommandJournal(directory: options.stateDirectory + "/journal")
        let executor = CommandExecutor(limits: ExecutorLimits())
        let core = AgentCore(
            journal: journal, executor: executor,
            appliedConfigVersion: AppliedConfigVersion(stateDirectory: options.stateDirectory), logger: logger
        )
        try await core.recover()
        let events = Task { await core.runExecutorEvents() }
        defer { events.cancel() }

        let policy = LinkPolicy(retryPrimaryAfter: options.retryPrimaryAfter, startMode: options.downlink)
        var reconnect = ReconnectLoop(minBackoff: options.minBackoff, maxBackoff: options.maxBackoff)
        var attempt = 0
        var previous: ServerEndpoint?
        while !Task.isCancelled {
            attempt += 1
            let endpoint = rotation.next(now: Date())
            if let previous, previous != endpoint { logger.notice("trying server \(endpoint) (after \(previous))") }
            previous = endpoint
            let outcome: ConnectAttempt
            do {
                let tls = try serverTrust(endpoint: endpoint, options: options, identity: identity)
                let connection = AgentConnection(
                    options: options, endpoint: endpoint, tls: tls, core: core, policy: policy, learned: learned, beforeHandling: beforeHandling, logger: logger
                )
                outcome = .ended(try await connection.run(identity: &identity))
            } catch let error as AgentError {
                // A node learned from a server that this agent cannot trust is skipped, not fatal.
                guard case .badState(let why) = error, !rotation.configured.contains(endpoint) else { throw error }
                logger.warning("skipping server \(endpoint): \(why)")
                outcome = .failed
            } catch TransportError.answerLost(let why) {
                outcome = .answerLost(why)
            } catch {
                logger.notice("connect attempt \(attempt) to \(endpoint) failed: \(LogSafe.describe(error, limit: 400))")
                outcome = .failed
            }
            rotation.learn(learned.endpoints)
            rotation.record(ServerRotation.outcome(of: outcome, allowPlain: options.allowPlain), now: Date())
            if case .ended(.ended(let closure, _, _, _)) = outcome { logger.notice("disconnected: \(LogSafe.describe(closure))") }
            switch reconnect.next(after: outcome, policy: policy, now: Date()) {
            case .stop(let closure):
                await core.shutdown()
                throw AgentError.refused(code: closure.code ?? 0, reason: closure.reason)
            case .retry(let delay):
                switch outcome {
                case .ended(.ended(_, _, let downlinkQuiet, let welcomeLost)):
                    if downlinkQuiet {
                        logger.warning("data frames stopped while control frames arrive; next downlink: \(policy.mode.rawValue)")
                    }
                    if welcomeLost {
                        logger.warning("the welcome never arrived after the challenge; reconnecting with a clamped TCP MSS")
                    }
                case .answerLost(let why):
                    logger.warning("\(why); reconnecting with a clamped TCP MSS")
                case .ended(.refused), .failed:
                    break
                }
                if Task.isCancelled { break }
                try? await Task.sleep(for: .milliseconds(Int(delay * 1000)))
            }
        }
        await core.shutdown()
    }

    /// How this agent trusts the server: the TLS trust pinned at enrollment (or carried by the
    /// enrollment token on first run). Plain ws:// only with `allowPlain`; wss:// never unpinned.
    static func serverTrust(endpoint: ServerEndpoint, options: AgentOptions, identity: AgentIdentity) throws -> TLSTrust? {
        try serverTrust(endpoint: endpoint, allowPlain: options.allowPlain, pinned: identity.tlsTrust, enrollToken: options.enrollToken)
    }

    /// The same for any agent-like client (the fleet simulator): `pinned` is the trust stored at
    /// enrollment, else the enrollment token's is used.
    public static func serverTrust(endpoint: ServerEndpoint, allowPlain: Bool, pinned: String?, enrollToken: String?) throws -> TLSTrust? {
        guard endpoint.secure else {
            guard allowPlain else {
                throw AgentError.badState("\(endpoint) is plain text (commands and results readable on the path); use wss://, or pass --allow-plain for a local server run with --plain")
            }
            return nil
        }
        guard let text = pinned ?? enrollToken.flatMap({ EnrollmentToken(parsing: $0).tlsTrust }) else {
            throw AgentError.badState("no TLS pin for \(endpoint): this agent was enrolled with a token from a --plain server; enroll again with a token from the TLS server")
        }
        do {
            return try TLSTrust(parsing: text)
        } catch {
            throw AgentError.badState("the TLS trust in the enrollment token is unreadable: \(error)")
        }
    }
}
