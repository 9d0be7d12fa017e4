/// Where a long-poll for a connection id goes (`PollRoute.decide`).
enum PollRoute: Sendable, Equatable {
    /// This node answers from its own queues (410 if it holds no such connection).
    case local
    /// Another live node made the id: the request goes to its peer URL and the answer comes back.
    case forward(peerURL: String)
    /// The node tag is not in the node list: read the list again, then decide once more.
    case lookUp
    /// No live node made the id: 410 with this reason.
    case gone(String)

    /// The decision for a poll of `id` on the node start tagged `ownTag`. `forwarded`: the
    /// request came from another node (a verified `PollForwardProof`); it is never forwarded
    /// again, so no loop can form whatever two nodes' lists say. `lookedUp`: the node list was
    /// just read again for this request.
    static func decide(id: String, ownTag: String, forwarded: Bool, peers: PollPeerTable, lookedUp: Bool) -> PollRoute {
        guard let tag = PollConnectionId.tag(of: id), tag != ownTag, !forwarded else { return .local }
        if let url = peers.peerURL(tag: tag) { return .forward(peerURL: url) }
        return lookedUp ? .gone("unknown or closed connection (its node is not running)") : .lookUp
    }
}

/// The other live nodes by the tag of their start (`PollConnectionId.tag(instance:)`). A tag two
/// nodes share (a 48-bit collision) maps to neither: a poll must not reach the wrong node.
struct PollPeerTable: Sendable, Equatable {
    private var urls: [String: String] = [:]

    init() {}

    /// The table of `peers` as read from the store, without this start (`ownTag`).
    init(peers: [(instance: String, peerUrl: String)], ownTag: String) {
        var seen: [String: String?] = [:]
        for peer in peers {
            let tag = PollConnectionId.tag(instance: peer.instance)
            guard tag != ownTag, PeerURL.problem(peer.peerUrl) == nil else { continue }
            seen[tag] = seen[tag] == nil ? .some(peer.peerUrl) : .some(nil)
        }
        urls = seen.compactMapValues { $0 }
    }

    func peerURL(tag: String) -> String? { urls[tag] }
    var count: Int { urls.count }
}
