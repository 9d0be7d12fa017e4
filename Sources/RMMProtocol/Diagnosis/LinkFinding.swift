/// Something the agent concluded about its link on its own, as data the server's `decide` can read.
/// Carried in `LinkReport.findings` (the newest `maxPerReport`), so it reaches the server over the
/// first authenticated connection that works, in any downlink mode.
public struct LinkFinding: Codable, Sendable, Equatable {
    /// What the agent saw; a fixed set, so the server can judge it.
    public enum Kind: String, Codable, Sendable, CaseIterable {
        /// The pong to its first ping came back, the challenge never did: data frames are filtered
        /// from the first frame on (before authentication).
        case challengeLost = "challenge-lost"
        /// The challenge arrived, the (larger) welcome never did.
        case welcomeLost = "welcome-lost"
        /// TCP connected, but no TLS or upgrade answer came back.
        case answerLost = "answer-lost"
        /// Data frames stopped during a session while control frames still arrived.
        case downlinkQuiet = "downlink-quiet"
        /// The agent's consumer held waiting messages for 2 s.
        case consumerStalled = "consumer-stalled"
        /// The watchdog rebuilt the session after the consumer stayed stuck.
        case watchdog
        /// The agent refused work from the server because its signature or position did not verify
        /// (a relay altered, replayed or forged it).
        case workRefused = "work-refused"
    }

    public var kind: Kind
    /// Unix seconds the agent concluded it.
    public var time: Double
    /// The connection id the server gave the attempt (`X-GuruRMM-Connection`), when one was given.
    public var connectionId: String?
    /// The downlink mode the attempt used.
    public var downlinkMode: DownlinkMode
    /// A short free-text detail (at most `maxDetailBytes`).
    public var detail: String

    /// How many findings one report carries at most (the newest).
    public static let maxPerReport = 8
    /// Longest `detail`, bytes.
    public static let maxDetailBytes = 120

    public init(kind: Kind, time: Double, connectionId: String?, downlinkMode: DownlinkMode, detail: String) {
        self.kind = kind
        self.time = time
        self.connectionId = connectionId
        self.downlinkMode = downlinkMode
        self.detail = WireRange.clipped(detail, limit: Self.maxDetailBytes)
    }
}

extension LinkFinding: WireChecked {
    public func rangeProblem() -> String? {
        firstProblem(
            WireRange.time("time", time),
            connectionId.flatMap { WireRange.id("connection_id", $0) },
            WireRange.text("detail", detail, limit: Self.maxDetailBytes)
        )
    }
}
