import Foundation
import RMMTransport

/// How one connect attempt ended, as the reconnect decision needs it.
public enum ConnectAttempt: Sendable {
    /// The WebSocket came up; how its session (or handshake) ended.
    case ended(SessionEnd)
    /// TCP connected but the server's TLS/upgrade answer never came.
    case answerLost(String)
    /// Anything else that failed before the WebSocket was up (refused, unreachable, …).
    case failed
}

/// The agent's reconnect decision, shared by the agent and the fleet simulator: after each attempt,
/// stop for good or wait a jittered backoff, starting the backoff over after an attempt that
/// worked or taught the link policy something (a quiet downlink, a lost welcome or answer). The
/// policy learns from the attempt here, so both apply the server's close hints the same way.
public struct ReconnectLoop: Sendable {
    private var backoff: ReconnectBackoff

    /// What to do after an attempt.
    public enum Step: Sendable, Equatable {
        /// Refused for good (a permanent close code): do not reconnect.
        case stop(LinkClosure)
        /// Reconnect after `delay` seconds.
        case retry(after: Double)
    }

    public init(minBackoff: Double, maxBackoff: Double) {
        backoff = ReconnectBackoff(minimum: minBackoff, maximum: maxBackoff)
    }

    /// Decides the next step after `attempt`, teaching `policy` what it showed.
    public mutating func next(after attempt: ConnectAttempt, policy: LinkPolicy, now: Date) -> Step {
        var generator = SystemRandomNumberGenerator()
        return next(after: attempt, policy: policy, now: now, using: &generator)
    }

    /// The same with the jitter drawn from `generator`.
    public mutating func next(after attempt: ConnectAttempt, policy: LinkPolicy, now: Date, using generator: inout some RandomNumberGenerator) -> Step {
        switch attempt {
        case .ended(.refused(let closure)):
            return .stop(closure)
        case .ended(.ended(let closure, let welcomed, let downlinkQuiet, let welcomeLost)):
            if policy.learn(from: closure, welcomed: welcomed, downlinkQuiet: downlinkQuiet, welcomeLost: welcomeLost, now: now) {
                backoff.reset()
            }
        case .answerLost:
            // Same symptom as a lost welcome, one step earlier: under TLS the server's certificate
            // flight is the first packet too large for a blackholed path.
            policy.learnAnswerLost(now: now)
            backoff.reset()
        case .failed:
            break
        }
        // Full jitter spreads a fleet's reconnects after a server restart.
        return .retry(after: backoff.nextDelay(using: &generator))
    }
}
