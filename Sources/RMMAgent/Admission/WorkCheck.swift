import RMMProtocol

/// What the signature and deadline checks said about one frame of signed work, before anything
/// about it is decided. Shared by the agent and the fleet simulator.
public enum WorkCheck: Sendable, Equatable {
    /// No pinned server key: nothing can be verified, so nothing is trusted.
    case unverifiable
    /// The server signed it for this agent at this place in the stream (or, in a simulator that
    /// does not verify, it is taken as signed), and nothing refuses it.
    case genuine
    /// The verifier's refusal: forged (not what the server signed) or refused (genuine, must not run).
    case refused(WorkRefusal)

    /// Checks a command: with a verifier, its signature and start deadline; without one and
    /// `verify` false (a simulator that trusts its server), only the deadline.
    public static func command(_ spec: CommandSpec, at position: StreamPosition, verifier: WorkVerifier?, verify: Bool = true, now: Double) -> WorkCheck {
        let refusal: WorkRefusal?
        if verify {
            guard let verifier else { return .unverifiable }
            refusal = verifier.refusal(spec, at: position, now: now)
        } else {
            refusal = WorkVerifier.deadlineRefusal(spec, now: now)
        }
        return refusal.map(WorkCheck.refused) ?? .genuine
    }

    /// Checks a cancel's signature (`verify` false: taken as genuine).
    public static func cancel(_ cancel: Cancel, at position: StreamPosition, verifier: WorkVerifier?, verify: Bool = true) -> WorkCheck {
        guard verify else { return .genuine }
        guard let verifier else { return .unverifiable }
        return verifier.refusal(cancel, at: position).map(WorkCheck.refused) ?? .genuine
    }

    /// Checks a config: its signature at `position` and that it is not older than `appliedVersion`
    /// (`verify` false: only the version).
    public static func config(
        _ config: AgentConfig, signature: String?, at position: StreamPosition, appliedVersion: Int?,
        verifier: WorkVerifier?, verify: Bool = true
    ) -> WorkCheck {
        let refusal: WorkRefusal?
        if verify {
            guard let verifier else { return .unverifiable }
            refusal = verifier.refusal(config, signature: signature, at: position, appliedVersion: appliedVersion)
        } else {
            refusal = WorkVerifier.staleness(of: config, appliedVersion: appliedVersion)
        }
        return refusal.map(WorkCheck.refused) ?? .genuine
    }

    /// Why the frame is forged (or unverifiable); nil when it is genuine, refused or not.
    public var forgery: String? {
        switch self {
        case .unverifiable: return "no pinned server key"
        case .refused(.forged(let why)): return why
        case .genuine, .refused(.refused): return nil
        }
    }
}
