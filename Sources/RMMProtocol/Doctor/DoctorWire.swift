/// Client → server, instead of `hello` or `enroll`: `gururmm doctor` asks for a probe session,
/// authenticated by an enrollment token that it does not use up.
public struct DoctorHello: Codable, Sendable, Equatable {
    /// The enrollment token, as operators paste it (only its secret part is checked).
    public var token: String

    public init(token: String) {
        self.token = token
    }
}

/// Server → client: the token is good; the probe session is open within these bounds.
public struct DoctorReady: Codable, Sendable, Equatable {
    /// Input bytes the server still accepts on this connection (the pre-authentication budget left).
    public var budgetBytes: Int
    /// Seconds after which the server closes the probe session (1000).
    public var lifetimeSeconds: Double
    /// Most echoes the server answers on this connection.
    public var maxEchoes: Int

    public init(budgetBytes: Int, lifetimeSeconds: Double, maxEchoes: Int) {
        self.budgetBytes = budgetBytes
        self.lifetimeSeconds = lifetimeSeconds
        self.maxEchoes = maxEchoes
    }
}

/// The bounds of a probe session, the same on both ends (docs/protocol.md, "Probe sessions").
public enum DoctorLimits {
    /// A probe session's hard lifetime from its `doctor_ready`, seconds.
    public static let lifetimeSeconds = 20.0
    /// Most `probe` echoes one probe session answers.
    public static let maxEchoes = 16
    /// Longest enrollment token a `doctor` message may carry, bytes.
    public static let maxTokenBytes = 1024
}

extension DoctorHello: WireChecked {
    public func rangeProblem() -> String? {
        WireRange.text("token", token, limit: DoctorLimits.maxTokenBytes)
    }
}

extension DoctorReady: WireChecked {
    public func rangeProblem() -> String? {
        firstProblem(
            WireRange.count("budget_bytes", budgetBytes, in: 0...WireLimits.maxUnauthenticatedBytes),
            WireRange.real("lifetime_seconds", lifetimeSeconds, in: 0...3600),
            WireRange.count("max_echoes", maxEchoes, in: 0...1024)
        )
    }
}
