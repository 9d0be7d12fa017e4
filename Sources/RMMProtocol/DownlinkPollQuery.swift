/// The query of the long-poll downlink on the agent port, `GET /agent/downlink/ID?after=N&wait=S`:
/// written by the agent's poller and read by the server here, so both agree on its grammar.
public struct DownlinkPollQuery: Sendable, Equatable {
    /// Every parameter the query has (tests send extremes to each).
    public enum Field: String, CaseIterable, Sendable {
        case after, wait
    }

    /// The path of a poll is this, then the connection's id (`UpgradeQuery.connectionIdHeader`).
    public static let pathPrefix = "/agent/downlink/"

    /// Longest a poll may wait for a frame, seconds.
    public static let maxWaitSeconds = 30.0
    /// How long a poll waits when it does not say.
    public static let defaultWaitSeconds = 20.0

    /// The index of the last frame the agent received; frames up to it are acknowledged.
    public var after: Int
    /// Seconds to wait for a frame before answering with none.
    public var wait: Double

    public init(after: Int, wait: Double = DownlinkPollQuery.defaultWaitSeconds) {
        self.after = after
        self.wait = wait
    }

    /// Reads the query's parameters (name, value); unknown names are ignored, and of a repeated
    /// one the first counts (as on the API port).
    public init(parameters: [(name: String, value: String?)]) throws(QueryNumber.Problem) {
        func value(_ field: Field) -> String? {
            parameters.first { $0.name == field.rawValue }.map { $0.value ?? "" }
        }
        after = try QueryNumber.integer(value(.after), name: "after", in: 0...WireRange.maxCount, fallback: 0)
        wait = try QueryNumber.real(value(.wait), name: "wait", in: 0...Self.maxWaitSeconds, fallback: Self.defaultWaitSeconds)
    }

    /// `after=N&wait=S`, as the poller sends it.
    public var queryString: String {
        "after=\(after)&wait=\(wait.rounded() == wait ? String(Int(wait)) : String(wait))"
    }

    /// `/agent/downlink/ID?after=N&wait=S`, the poll of connection `connectionId`.
    public func uri(connectionId: String) -> String {
        Self.pathPrefix + connectionId + "?" + queryString
    }

    /// The connection id a request path names, or nil for a path that is not a poll's.
    public static func connectionId(path: String) -> String? {
        path.hasPrefix(pathPrefix) ? String(path.dropFirst(pathPrefix.count)) : nil
    }
}
