import RMMProtocol

/// Where a node finds the cluster's current node list, which goes to every agent in its welcome
/// (`Welcome.nodes`) so that a node added later reaches agents without touching them.
///
/// The seam is one synchronous call, made once per welcome: an implementation answers from what
/// it already holds (a cluster implementation refreshes its list in the background, e.g. from the
/// node leases in the database) and never waits. What it returns goes out as is, so it returns
/// only URLs `NodeURL.problem` accepts, at most `NodeURL.maxNodes` (`ClusterDirectory.checked`).
public protocol ClusterDirectory: Sendable {
    /// The agent URLs of the nodes agents may use now, this node's included; empty when unknown.
    func agentURLs() -> [String]
}

extension ClusterDirectory {
    /// The list for a welcome: the valid URLs, without repeats, at most `NodeURL.maxNodes`; nil
    /// when there is none (the field is then left out, as an older server leaves it).
    public func welcomeNodes() -> [String]? {
        let nodes = Self.checked(agentURLs())
        return nodes.isEmpty ? nil : nodes
    }

    /// `urls` without what a welcome must not carry.
    public static func checked(_ urls: [String]) -> [String] {
        var seen = Set<String>()
        return Array(urls.filter { NodeURL.problem($0) == nil && seen.insert($0).inserted }.prefix(NodeURL.maxNodes))
    }
}

/// A single node: the list is its own `--advertise-url`, or nothing.
public struct SingleNodeDirectory: ClusterDirectory {
    /// This node's agent URL as agents should reach it.
    public let advertised: String?

    public init(advertised: String?) {
        self.advertised = advertised
    }

    public func agentURLs() -> [String] {
        advertised.map { [$0] } ?? []
    }
}
