import Crypto
import Foundation
import Logging
import RMMStore

/// What the agent port needs to route long-polls between the nodes of a cluster: this start's
/// tag (in every connection id it makes), the other nodes by tag, and the forwarder.
struct PollForwarding: Sendable {
    let peers: PollPeers
    let forwarder: PollForwarder

    var ownTag: String { peers.ownTag }

    /// `instance`: this start's lease instance (`NodeClaim.instance`); `store` nil on a single
    /// node. `clusterSecret`: the work-signing key's raw bytes, which every node shares.
    init(instance: String, store: (any ClusterStore)?, clusterSecret: Data, tlsPin: String?, logger: Logger) {
        peers = PollPeers(ownTag: PollConnectionId.tag(instance: instance), store: store, logger: logger)
        forwarder = PollForwarder(pin: tlsPin, proof: PollForwardProof(clusterSecret: clusterSecret))
    }

    /// A single node (and tests): a random tag, no peers, and a key no other process has.
    static func singleNode(logger: Logger) -> PollForwarding {
        PollForwarding(instance: UUID().uuidString, store: nil,
                       clusterSecret: SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }, tlsPin: nil, logger: logger)
    }

    /// A new connection's id (`PollConnectionId`).
    func newConnectionId() -> String {
        PollConnectionId.make(tag: ownTag)
    }
}
