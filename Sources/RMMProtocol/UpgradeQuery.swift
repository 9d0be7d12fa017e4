/// The agent's WebSocket upgrade request on the agent port, `GET /agent?downlink=poll&mss=1200`:
/// written by the agent's connector and read by the server here, so both agree on its grammar.
/// The server's answer names the connection in `connectionIdHeader`.
public struct UpgradeQuery: Sendable, Equatable {
    /// The path agents upgrade on (an agent URL without a path means this one).
    public static let path = "/agent"
    /// The 101 response header carrying the server's id for the connection (the long-poll
    /// downlink fetches by it).
    public static let connectionIdHeader = "X-GuruRMM-Connection"

    /// Every parameter the query has.
    public enum Field: String, CaseIterable, Sendable {
        case downlink, mss
    }

    /// How the agent wants the server to send it data frames.
    public var downlink: DownlinkMode
    /// The TCP MSS the agent clamped its connection to, if it did.
    public var mss: Int?

    public init(downlink: DownlinkMode = .text, mss: Int? = nil) {
        self.downlink = downlink
        self.mss = mss
    }

    /// Reads a query string (the part after `?`). It arrives before authentication: an unknown
    /// parameter, an unknown mode or an MSS that is not a whole number in `PacketLimits.mssRange`
    /// is ignored (the default holds); of a repeated parameter the last counts.
    public init(query: Substring) {
        self.init()
        for pair in query.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1)
            guard kv.count == 2, let field = Field(rawValue: String(kv[0])) else { continue }
            switch field {
            case .downlink:
                if let mode = DownlinkMode(rawValue: String(kv[1])) { downlink = mode }
            case .mss:
                if kv[1].utf8.count <= 20, let value = Int(kv[1]), PacketLimits.mssRange.contains(value) { mss = value }
            }
        }
    }

    /// Splits a request URI into its path and its query.
    public static func parse(uri: String) -> (path: String, query: UpgradeQuery) {
        let parts = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = parts.first.map(String.init) ?? uri
        return (path, parts.count == 2 ? UpgradeQuery(query: parts[1]) : UpgradeQuery())
    }

    /// `downlink=poll&mss=1200`, leaving out what is the default; empty when everything is.
    public var queryString: String {
        var words: [String] = []
        if downlink != .text { words.append("\(Field.downlink.rawValue)=\(downlink.rawValue)") }
        if let mss { words.append("\(Field.mss.rawValue)=\(mss)") }
        return words.joined(separator: "&")
    }

    /// The request URI on `path`: the path alone when the query is empty.
    public func uri(path: String = UpgradeQuery.path) -> String {
        let query = queryString
        return query.isEmpty ? path : path + "?" + query
    }
}
