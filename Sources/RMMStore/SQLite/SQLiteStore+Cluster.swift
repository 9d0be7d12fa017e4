/// A SQLite store serves one node: its keys are the cluster's and its name is never contended
/// (two servers on one file are kept apart by the data directory, not by leases).
extension SQLiteStore {
    public func claimIdentity(_ identity: ClusterIdentity, node: String) async throws -> ClusterIdentityOutcome { .matches }
    public func acquireNodeLease(_ claim: NodeClaim) async throws -> NodeLeaseGrant { .acquired }
    public func advertiseNode(_ claim: NodeClaim, agentUrl: String, apiUrl: String, peerUrl: String) async throws -> NodeLeaseRenewal { .renewed }
    public func renewNodeLease(_ claim: NodeClaim, draining: Bool) async throws -> NodeLeaseRenewal { .renewed }
    public func releaseNodeLease(_ claim: NodeClaim) async throws {}
    public func liveNodes() async throws -> [LiveNode] { [] }
    public func nodePeers() async throws -> [NodePeer] { [] }
}
