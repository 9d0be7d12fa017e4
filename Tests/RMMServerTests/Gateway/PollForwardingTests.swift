import Foundation
import Logging
import RMMStore
import Synchronization
import Testing
@testable import RMMServer

/// Long-poll forwarding between nodes, without sockets: the ids' node tags, the route decision,
/// the peer table, the proof a forwarded request carries, the peer URL and the relayed answer.
@Suite("Long-poll forwarding")
struct PollForwardingTests {
    let ownTag = PollConnectionId.tag(instance: "own-instance")
    let otherTag = PollConnectionId.tag(instance: "other-instance")

    func table(_ peers: [(String, String)]) -> PollPeerTable {
        PollPeerTable(peers: peers.map { (instance: $0.0, peerUrl: $0.1) }, ownTag: ownTag)
    }

    @Test("a connection id carries its start's tag and 128 random bits; only ids of exactly that form have a tag")
    func connectionIds() {
        let id = PollConnectionId.make(tag: ownTag)
        #expect(id.count == 2 + 12 + 32 && id.hasPrefix("k_"))
        #expect(PollConnectionId.tag(of: id) == ownTag)
        #expect(PollConnectionId.make(tag: ownTag) != id)
        #expect(ownTag.count == 12 && ownTag != otherTag)
        #expect(PollConnectionId.tag(instance: "own-instance") == ownTag, "every node computes the same tag from the instance")
        for bad in ["", "k_", String(id.dropLast()), id + "0", id.uppercased(), "x_" + id.dropFirst(2),
                    "k_" + String(repeating: "g", count: 44), "k_" + String(repeating: "é", count: 22),
                    "k_0123456789abcdef0123456789abcdef"] {
            #expect(PollConnectionId.tag(of: bad) == nil, "\(bad)")
        }
    }

    @Test("the route: own tag or a forwarded request is served here; a live peer's tag is forwarded; an unknown tag is looked up once, then gone")
    func routes() {
        let peers = table([("other-instance", "wss://10.0.0.2:7443")])
        let mine = PollConnectionId.make(tag: ownTag)
        let theirs = PollConnectionId.make(tag: otherTag)
        let nobodys = PollConnectionId.make(tag: PollConnectionId.tag(instance: "dead-instance"))
        func decide(_ id: String, forwarded: Bool = false, lookedUp: Bool = false) -> PollRoute {
            PollRoute.decide(id: id, ownTag: ownTag, forwarded: forwarded, peers: peers, lookedUp: lookedUp)
        }
        #expect(decide(mine) == .local)
        #expect(decide(theirs) == .forward(peerURL: "wss://10.0.0.2:7443"))
        #expect(decide(theirs, lookedUp: true) == .forward(peerURL: "wss://10.0.0.2:7443"))
        // A forwarded request is never forwarded again, whatever this node's list says.
        #expect(decide(theirs, forwarded: true) == .local)
        #expect(decide(nobodys, forwarded: true) == .local)
        #expect(decide(nobodys) == .lookUp)
        guard case .gone = decide(nobodys, lookedUp: true) else {
            Issue.record("an unknown tag after a look-up must be gone")
            return
        }
        // Not an id this server makes: the local queues answer (410 as before).
        #expect(decide("k_0123") == .local)
        #expect(decide("anything") == .local)
    }

    @Test("the peer table leaves out this start, unusable peer URLs, and a tag two nodes share")
    func peerTable() {
        let peers = table([
            ("own-instance", "wss://me:7443"),
            ("other-instance", "wss://10.0.0.2:7443"),
            ("bad-url", "https://x:1"),
        ])
        #expect(peers.peerURL(tag: ownTag) == nil)
        #expect(peers.peerURL(tag: otherTag) == "wss://10.0.0.2:7443")
        #expect(peers.peerURL(tag: PollConnectionId.tag(instance: "bad-url")) == nil)
        #expect(peers.count == 1)
        // Two starts whose tags collide (forced here with one instance twice): neither is used.
        let twice = table([("other-instance", "wss://a:1"), ("other-instance", "wss://b:1")])
        #expect(twice.peerURL(tag: otherTag) == nil)
    }

    @Test("a forwarding proof opens only for its URI and client, with the cluster's key, within its window")
    func proofs() {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let key = PollForwardProof(clusterSecret: Data(repeating: 7, count: 32))
        let uri = "/agent/downlink/k_abc?after=3&wait=20"
        let sealed = key.seal(uri: uri, client: "192.0.2.7:40000", now: now)
        #expect(key.open(sealed, uri: uri, now: now) == .success("192.0.2.7:40000"))
        #expect(key.open(sealed, uri: uri, now: now + 59) == .success("192.0.2.7:40000"))
        #expect(key.open(sealed, uri: uri, now: now - 59) == .success("192.0.2.7:40000"))
        #expect(key.open(sealed, uri: uri, now: now + 61) == .failure(.expired))
        #expect(key.open(sealed, uri: "/agent/downlink/k_abd?after=3&wait=20", now: now) == .failure(.badMAC))
        #expect(key.open(sealed, uri: uri + "0", now: now) == .failure(.badMAC))
        let otherClient = sealed.replacingOccurrences(of: "192.0.2.7:40000", with: "192.0.2.8:40000")
        #expect(key.open(otherClient, uri: uri, now: now) == .failure(.badMAC))
        let otherKey = PollForwardProof(clusterSecret: Data(repeating: 8, count: 32))
        #expect(otherKey.open(sealed, uri: uri, now: now) == .failure(.badMAC))
        #expect(key.open("[::1]:1", uri: uri, now: now) == .failure(.malformed))
        let parts = sealed.split(separator: " ").map(String.init)
        for bad in ["", "v1", "v2 " + parts.dropFirst().joined(separator: " "), sealed + " extra", sealed + "x" + String(repeating: "y", count: 300),
                    "v1 soon \(parts[2]) \(parts[3])", "v1 \(parts[1]) short \(parts[3])", "v1 \(parts[1]) \(parts[2]) ",
                    "v1 \(parts[1]) \(parts[2]) \(String(repeating: "1", count: 65))", "v1  \(parts[1]) \(parts[2]) \(parts[3])"] {
            #expect(key.open(bad, uri: uri, now: now) == .failure(.malformed), "\(bad)")
        }
        // A MAC of the right length but wrong bits.
        let flipped = "v1 \(parts[1]) \(String(repeating: "A", count: 43)) \(parts[3])"
        #expect(key.open(flipped, uri: uri, now: now) == .failure(.badMAC))
    }

    @Test("a peer URL is a ws(s) URL matching the cluster's TLS; the default never names a wildcard address")
    func peerURLs() {
        #expect(PeerURL.problem("wss://node-2.example.com:7443", secure: true) == nil)
        #expect(PeerURL.problem("wss://10.0.0.2:7443/agent", secure: true) == nil)
        #expect(PeerURL.problem("ws://10.0.0.2:7443", secure: false) == nil)
        #expect(PeerURL.problem("ws://10.0.0.2:7443", secure: true) != nil)
        #expect(PeerURL.problem("wss://10.0.0.2:7443", secure: false) != nil)
        #expect(PeerURL.problem("https://10.0.0.2:7443") != nil)
        #expect(PeerURL.problem("wss://10.0.0.2:7443/other") != nil)
        #expect(PeerURL.problem("wss://user@10.0.0.2:7443") != nil)
        #expect(PeerURL.problem("wss://:7443") != nil)
        #expect(PeerURL.byDefault(listenHost: "10.0.0.2", port: 7443, secure: true, hostName: "h") == "wss://10.0.0.2:7443")
        #expect(PeerURL.byDefault(listenHost: "0.0.0.0", port: 7443, secure: true, hostName: "node-2") == "wss://node-2:7443")
        #expect(PeerURL.byDefault(listenHost: "::", port: 80, secure: false, hostName: "node-2") == "ws://node-2:80")
        #expect(PeerURL.byDefault(listenHost: "fd00::2", port: 7443, secure: true, hostName: "h") == "wss://[fd00::2]:7443")
        #expect(PeerURL.problem(PeerURL.byDefault(listenHost: "fd00::2", port: 7443, secure: true, hostName: "h"), secure: true) == nil)
    }

    @Test("a relayed answer keeps a poll's body and the statuses a poll answers; anything else is 502 and no body is relayed")
    func relays() {
        #expect(PollForwarder.relay(status: 200, body: Data([1, 2])) == PollRelay(status: .ok, body: Data([1, 2])))
        #expect(PollForwarder.relay(status: 410, body: Data("gone\n".utf8)) == PollRelay(status: .gone, body: Data("gone\n".utf8)))
        #expect(PollForwarder.relay(status: 400, body: Data(repeating: 65, count: 5000)).body.count == PollForwarder.maxTextBytes)
        for status in [101, 204, 301, 404, 500, 502] {
            let relay = PollForwarder.relay(status: status, body: Data("secret".utf8))
            #expect(relay.status == .badGateway && !String(decoding: relay.body, as: UTF8.self).contains("secret"))
        }
    }

    @Test("a look-up while one is in flight joins it (one read of the node list), and a failed read keeps the last table")
    func lookUps() async {
        let store = PeerListStore(peers: [NodePeer(name: "n2", instance: "other-instance", peerUrl: "wss://10.0.0.2:7443")])
        let peers = PollPeers(ownTag: ownTag, store: store, logger: Logger(label: "test"), minimumInterval: .milliseconds(50))
        #expect(peers.current.peerURL(tag: otherTag) == nil)
        // The first read waits on the gate, so it is still in flight when the others start.
        let reads = (0..<5).compactMap { _ in peers.startLookUp() }
        store.openGate()
        for read in reads { await read.value }
        #expect(store.reads == 1)
        #expect(peers.current.peerURL(tag: otherTag) == "wss://10.0.0.2:7443")
        store.failing = true
        await peers.lookUp()
        #expect(store.reads == 2)
        #expect(peers.current.peerURL(tag: otherTag) == "wss://10.0.0.2:7443")
        let single = PollPeers(ownTag: ownTag, store: nil, logger: Logger(label: "test"))
        await single.lookUp()
        #expect(single.current.count == 0)
    }

    /// A `ClusterStore` that only lists peers, counting its reads; reads wait until `openGate`.
    final class PeerListStore: ClusterStore {
        private let state: Mutex<(peers: [NodePeer], reads: Int, failing: Bool)>
        private let gate: AsyncStream<Void>
        private let gateKeeper: AsyncStream<Void>.Continuation
        init(peers: [NodePeer]) {
            state = Mutex((peers, 0, false))
            (gate, gateKeeper) = AsyncStream<Void>.makeStream()
        }
        var reads: Int { state.withLock { $0.reads } }
        var failing: Bool {
            get { state.withLock { $0.failing } }
            set { state.withLock { $0.failing = newValue } }
        }
        func openGate() { gateKeeper.finish() }

        func nodePeers() async throws -> [NodePeer] {
            let (peers, failing) = state.withLock { state in
                state.reads += 1
                return (state.peers, state.failing)
            }
            for await _ in gate {}
            if failing { throw StoreError.unavailable("down") }
            return peers
        }
        func claimIdentity(_ identity: ClusterIdentity, node: String) async throws -> ClusterIdentityOutcome { .matches }
        func acquireNodeLease(_ claim: NodeClaim) async throws -> NodeLeaseGrant { .acquired }
        func advertiseNode(_ claim: NodeClaim, agentUrl: String, apiUrl: String, peerUrl: String) async throws -> NodeLeaseRenewal { .renewed }
        func renewNodeLease(_ claim: NodeClaim, draining: Bool) async throws -> NodeLeaseRenewal { .renewed }
        func releaseNodeLease(_ claim: NodeClaim) async throws {}
        func liveNodes() async throws -> [LiveNode] { [] }
    }
}
