import Foundation

/// The keys every node of a cluster must share: agents pin them, so a node with other keys
/// would be refused by every agent (or sign work they refuse).
public struct ClusterIdentity: Sendable, Equatable {
    /// The work-signing key's public key, base64 of its raw 32 bytes.
    public var signingKey: String
    /// What enrollment tokens tell agents to trust: the TLS key's pin, `system`, or `plain`.
    public var tlsTrust: String

    public init(signingKey: String, tlsTrust: String) {
        self.signingKey = signingKey
        self.tlsTrust = tlsTrust
    }
}

/// What a node found when it presented its keys (`ClusterStore.claimIdentity`).
public enum ClusterIdentityOutcome: Sendable, Equatable {
    /// This node is the cluster's first: its keys are now the cluster's.
    case recorded
    /// The stored keys are this node's.
    case matches
    /// The cluster has other keys, recorded by node `firstNode` at `since`.
    case differs(stored: ClusterIdentity, firstNode: String, since: Date)
}

/// One node's claim on its name (`ClusterStore.acquireNodeLease`).
public struct NodeClaim: Sendable, Equatable {
    /// The node's name, unique among running nodes.
    public var name: String
    /// Random per process start: tells this start's lease from an earlier one of the same name.
    public var instance: String
    /// Lease length; the database's clock measures it.
    public var leaseSeconds: Double

    public init(name: String, instance: String, leaseSeconds: Double) {
        self.name = name
        self.instance = instance
        self.leaseSeconds = leaseSeconds
    }
}

/// The answer to a node taking its name's lease.
public enum NodeLeaseGrant: Sendable, Equatable {
    case acquired
    /// Another running start holds the name; it started at `since` and its lease runs to `until`
    /// (both on the database's clock).
    case held(since: Date, until: Date)
}

/// The answer to a lease renewal.
public enum NodeLeaseRenewal: Sendable, Equatable {
    case renewed
    /// The name's lease is no longer this start's: it expired and another start took it.
    case lost
}

/// A node whose lease is current, as the welcome lists it to agents.
public struct LiveNode: Sendable, Equatable {
    public var name: String
    /// The agent URL the node advertises (`wss://HOST:PORT/agent`).
    public var agentUrl: String
    public var apiUrl: String
    /// The node is stopping: it takes no new agents.
    public var draining: Bool

    public init(name: String, agentUrl: String, apiUrl: String, draining: Bool) {
        self.name = name
        self.agentUrl = agentUrl
        self.apiUrl = apiUrl
        self.draining = draining
    }
}

/// Where the other nodes reach a node's agent port to forward a long-poll to it (the node that
/// holds the poll's WebSocket), and which start of the node that is.
public struct NodePeer: Sendable, Equatable {
    public var name: String
    /// The start's `NodeClaim.instance`: connection ids carry a tag of it.
    public var instance: String
    /// `wss://HOST:PORT` (`ws://` on a plain cluster), as the node advertised it.
    public var peerUrl: String

    public init(name: String, instance: String, peerUrl: String) {
        self.name = name
        self.instance = instance
        self.peerUrl = peerUrl
    }
}

/// The cluster's shared facts: its keys, and which nodes run (each under a lease on its name, so
/// no two running nodes share a name). A single-node backend (SQLite) keeps none of it: every
/// claim succeeds and `liveNodes` is empty, meaning "only this node".
public protocol ClusterStore: Sendable {
    /// Records `identity` as the cluster's if none is stored (atomically: of concurrent first
    /// starts exactly one records its keys), else compares it with the stored one.
    func claimIdentity(_ identity: ClusterIdentity, node: String) async throws -> ClusterIdentityOutcome
    /// Takes the lease on `claim.name` if no one holds it or its holder's lease has expired (on
    /// the database's clock), for `claim.leaseSeconds`.
    func acquireNodeLease(_ claim: NodeClaim) async throws -> NodeLeaseGrant
    /// Sets the URLs the node advertises (known once its listeners are bound), `peerUrl` where the
    /// other nodes reach its agent port; `lost` if the lease is not this start's.
    func advertiseNode(_ claim: NodeClaim, agentUrl: String, apiUrl: String, peerUrl: String) async throws -> NodeLeaseRenewal
    /// Extends this start's lease by `claim.leaseSeconds` from the database's now, also after it
    /// expired unrenewed (a database outage) as long as no other start took the name; `lost` if
    /// another start holds it. Tried even while the database counts as away: it is the probe that
    /// finds it back.
    func renewNodeLease(_ claim: NodeClaim, draining: Bool) async throws -> NodeLeaseRenewal
    /// Gives the lease up (a clean stop), so the name is free at once; nothing if it is not this start's.
    func releaseNodeLease(_ claim: NodeClaim) async throws
    /// Nodes whose lease is current and that advertised their URLs, by name.
    func liveNodes() async throws -> [LiveNode]
    /// Nodes whose lease is current and that advertised a peer URL, by name.
    func nodePeers() async throws -> [NodePeer]
    /// A renewal went unanswered past its deadline (a database that hangs rather than refuses):
    /// a backend that can be away treats it as away until a call succeeds.
    func databaseUnanswered(_ why: String)
}

extension ClusterStore {
    /// One node alone on a local file has no database to lose.
    public func databaseUnanswered(_ why: String) {}
}
