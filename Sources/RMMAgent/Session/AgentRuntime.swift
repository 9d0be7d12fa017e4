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
        let journal = try CommandJournal(directory: options.stateDirectory + "/journal")
        let executor = CommandExecutor(limits: ExecutorLimits())
        let core = AgentCore(journal: journal, executor: executor, logger: logger)
        try await core.recover()
        let events = Task { await core.runExecutorEvents() }
        defer { events.cancel() }

        let policy = LinkPolicy(retryPrimaryAfter: options.retryPrimaryAfter)
        let faults = FaultHooks()
        var backoff = options.minBackoff
        var attempt = 0
        while !Task.isCancelled {
            attempt += 1
            let connection = AgentConnection(options: options, core: core, policy: policy, faults: faults, logger: logger)
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
}
