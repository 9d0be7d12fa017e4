import Foundation

/// The agent's check of signed work, before anything about it is journaled, acknowledged or
/// counted as received: signed by the pinned server key, for this agent, at this place in the
/// server's stream, and (for a command) within its signed deadline. Pure; the agent and the fleet
/// simulator both decide with it.
public struct WorkVerifier: Sendable, Equatable {
    /// The agent id the agent enrolled as.
    public let agentId: String
    /// The server's Ed25519 public key (base64) pinned at enrollment.
    public let serverKey: String

    public init(agentId: String, serverKey: String) {
        self.agentId = agentId
        self.serverKey = serverKey
    }

    /// Why a command must not be accepted; nil when it may. `now` is the agent's clock, Unix seconds.
    public func refusal(_ command: CommandSpec, at position: StreamPosition, now: Double) -> WorkRefusal? {
        let payload = WorkSigning.payload(agentId: agentId, position: position, command: command)
        if let problem = WorkSigning.problem(signature: command.signature, payload: payload, publicKey: serverKey) {
            return .forged("signature check failed: \(problem)")
        }
        return Self.deadlineRefusal(command, now: now)
    }

    /// Why a (genuine) command must not start now: its start deadline has passed, or lies further
    /// ahead than the protocol allows; nil when it may start.
    public static func deadlineRefusal(_ command: CommandSpec, now: Double) -> WorkRefusal? {
        let deadline = Double(command.expiresAt)
        if deadline > now + WorkLimits.maxValiditySeconds + WorkLimits.clockSkewSeconds {
            return .refused("its signed start deadline is \(Int(deadline - now)) s away, more than the protocol's maximum validity of \(Int(WorkLimits.maxValiditySeconds)) s")
        }
        if now > deadline + WorkLimits.clockSkewSeconds {
            return .refused("its signed start deadline has passed")
        }
        return nil
    }

    /// Why a cancel must not be applied; nil when it may.
    public func refusal(_ cancel: Cancel, at position: StreamPosition) -> WorkRefusal? {
        let payload = WorkSigning.payload(agentId: agentId, position: position, cancel: cancel)
        return WorkSigning.problem(signature: cancel.signature, payload: payload, publicKey: serverKey).map { .forged("cancel signature check failed: \($0)") }
    }

    /// Why a config must not be applied; nil when it may. A config older than the one in force is
    /// refused even when signed, so a replayed old config cannot roll a setting back.
    public func refusal(_ config: AgentConfig, signature: String?, at position: StreamPosition, appliedVersion: Int?) -> WorkRefusal? {
        let payload = try? WorkSigning.payload(agentId: agentId, position: position, config: config)
        if let problem = WorkSigning.problem(signature: signature, payload: payload, publicKey: serverKey) {
            return .forged("config signature check failed: \(problem)")
        }
        return Self.staleness(of: config, appliedVersion: appliedVersion)
    }

    /// Why a (genuine) config must not be applied: it is older than the one already applied.
    public static func staleness(of config: AgentConfig, appliedVersion: Int?) -> WorkRefusal? {
        guard let appliedVersion, config.version < appliedVersion else { return nil }
        return .refused("config version \(config.version) is older than version \(appliedVersion), which this agent already applied")
    }

    /// The position a `welcome`'s config is signed at: `seq` 0 of the server's stream.
    public static func welcomePosition(stream: String) -> StreamPosition {
        StreamPosition(stream: stream, seq: 0)
    }
}

/// Why signed work was not accepted.
public enum WorkRefusal: Sendable, Equatable, CustomStringConvertible {
    /// The frame is not what the server signed for this place: nothing about it may be trusted,
    /// its `seq` included, so it must not move the receive position.
    case forged(String)
    /// The server signed it, but it must not run (deadline); the frame is genuine.
    case refused(String)

    public var description: String {
        switch self {
        case .forged(let why), .refused(let why): return why
        }
    }
}
