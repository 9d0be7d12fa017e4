import Foundation
import Logging
import RMMProtocol
import RMMTransport

/// Runs an agent: recovers its journal, then connects and reconnects forever with jittered
/// exponential backoff, until cancelled or permanently refused.
public enum AgentRuntime {
    public static func run(options: AgentOptions, logger: Logger) async throws {
        var identity = try AgentIdentity.loadOrCreate(stateDirectory: options.stateDirectory)
        if identity.agentId == nil && options.enrollToken == nil { throw AgentError.notEnrolled }
        let tls = try serverTrust(options: options, identity: identity)
        let journal = try CommandJournal(directory: options.stateDirectory + "/journal")
        let executor = CommandExecutor(limits: ExecutorLimits())
        let core = AgentCore(journal: journal, executor: executor, logger: logger)
        try await core.recover()
        let events = Task { await core.runExecutorEvents() }
        defer { events.cancel() }

        let policy = LinkPolicy(retryPrimaryAfter: options.retryPrimaryAfter, startMode: options.downlink)
        let faults = FaultHooks()
        var backoff = options.minBackoff
        var attempt = 0
        while !Task.isCancelled {
            attempt += 1
            let connection = AgentConnection(options: options, tls: tls, core: core, policy: policy, faults: faults, logger: logger)
            do {
                switch try await connection.run(identity: &identity) {
                case .refused(let closure):
                    await core.shutdown()
                    throw AgentError.refused(code: closure.code ?? 0, reason: closure.reason)
                case .ended(let closure, let welcomed, let downlinkQuiet, let welcomeLost):
                    logger.notice("disconnected: \(closure)")
                    policy.recordReconnect(reason: closure.description, now: Date())
                    policy.apply(close: closure, now: Date())
                    if downlinkQuiet {
                        policy.escalate(reason: "downlink-quiet: data frames stopped while control frames arrived", now: Date())
                        logger.warning("data frames stopped while control frames arrive; next downlink: \(policy.mode.rawValue)")
                    }
                    if welcomeLost {
                        // A small frame passed, a larger one never came: treat it as an MTU blackhole.
                        policy.shrinkPackets(reason: "welcome-lost: the challenge arrived but the welcome did not", now: Date())
                        logger.warning("the welcome never arrived after the challenge; reconnecting with a clamped TCP MSS")
                    }
                    if welcomed || downlinkQuiet || welcomeLost { backoff = options.minBackoff }
                }
            } catch let error as AgentError {
                throw error
            } catch TransportError.answerLost(let why) {
                // Same symptom as a lost welcome, one step earlier: under TLS the server's
                // certificate flight is the first packet too large for a blackholed path.
                policy.recordReconnect(reason: "answer-lost", now: Date())
                policy.shrinkPackets(reason: "answer-lost: TCP connected but the server's TLS/upgrade answer never arrived", now: Date())
                logger.warning("\(why); reconnecting with a clamped TCP MSS")
                backoff = options.minBackoff
            } catch {
                logger.notice("connect attempt \(attempt) to \(options.endpoint) failed: \(error)")
            }
            if Task.isCancelled { break }
            // Full jitter spreads a fleet's reconnects after a server restart.
            let delay = Double.random(in: options.minBackoff...max(options.minBackoff, backoff))
            backoff = min(options.maxBackoff, backoff * 2)
            try? await Task.sleep(for: .milliseconds(Int(delay * 1000)))
        }
        await core.shutdown()
    }

    /// How this agent trusts the server: the TLS trust pinned at enrollment (or carried by the
    /// enrollment token on first run). Plain ws:// only with `allowPlain`; wss:// never unpinned.
    static func serverTrust(options: AgentOptions, identity: AgentIdentity) throws -> TLSTrust? {
        guard options.endpoint.secure else {
            guard options.allowPlain else {
                throw AgentError.badState("\(options.endpoint) is plain text (commands and results readable on the path); use wss://, or pass --allow-plain for a local server run with --plain")
            }
            return nil
        }
        guard let text = identity.tlsTrust ?? options.enrollToken.flatMap({ EnrollmentToken(parsing: $0).tlsTrust }) else {
            throw AgentError.badState("no TLS pin for \(options.endpoint): this agent was enrolled with a token from a --plain server; enroll again with a token from the TLS server")
        }
        do {
            return try TLSTrust(parsing: text)
        } catch {
            throw AgentError.badState("the TLS trust in the enrollment token is unreadable: \(error)")
        }
    }
}
