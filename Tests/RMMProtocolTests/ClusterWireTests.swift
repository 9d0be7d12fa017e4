import Foundation
import RMMTestSupport
import Testing
@testable import RMMProtocol

/// What the cluster adds to the wire: the welcome's node list, the close hint naming another
/// node, and the node URLs both carry. Text from the network, so each is bounded and checked.
@Suite("Cluster wire")
struct ClusterWireTests {
    static let codec = WireCodec()

    static func welcome(nodes: [String]?) -> Envelope {
        Envelope(.welcome(Welcome(agentId: "a_1", epoch: 3, stream: "s_1", received: nil, heartbeatId: 1, config: .defaults, nodes: nodes)))
    }

    @Test("node URLs: ws and wss with a host; anything else refused with a reason")
    func nodeURLs() {
        for good in ["wss://node-1.example.com:7443", "ws://127.0.0.1:7443/agent", "WSS://[2001:db8::1]:7443", "wss://n"] {
            #expect(NodeURL.problem(good) == nil, "\(good)")
        }
        let bad = ["", "https://node-1", "wss://", "wss://:7443", "wss://a b", "wss://user:pw@node", "wss://node?x=1", "wss://node#f",
                   "wss://node\u{0}", "wss://nöde", "wss://node:99999", "wss://node:0", "node-1:7443", "javascript:alert(1)",
                   "wss://" + String(repeating: "a", count: 300)]
        for text in bad {
            #expect(NodeURL.problem(text) != nil, "\(text.debugDescription) accepted")
        }
        #expect(NodeURL.isPlain("WS://x") && !NodeURL.isPlain("wss://x"))
    }

    @Test("the welcome's node list round-trips, and a welcome without one reads as nil")
    func welcomeRoundTrip() throws {
        let nodes = ["wss://node-1:7443/agent", "wss://node-2:7443/agent"]
        #expect(try Self.codec.decode(try Self.codec.encode(Self.welcome(nodes: nodes))) == Self.welcome(nodes: nodes))
        let old = try Self.codec.encode(Self.welcome(nodes: nil))
        #expect(!String(decoding: old, as: UTF8.self).contains("nodes"), "an older server's welcome has no such key")
        #expect(try Self.codec.decode(old) == Self.welcome(nodes: nil))
    }

    @Test("an unknown key in a welcome is ignored, as an older agent ignores `nodes`")
    func unknownKeysIgnored() throws {
        var text = String(decoding: try Self.codec.encode(Self.welcome(nodes: nil)), as: UTF8.self)
        text = text.replacingOccurrences(of: "\"agent_id\"", with: "\"cluster_future\":{\"x\":[1,2]},\"agent_id\"")
        #expect(try Self.codec.decode(Data(text.utf8)) == Self.welcome(nodes: nil))
    }

    @Test("a welcome with too many nodes, an oversized one, or nodes that are not strings is refused at decode")
    func hostileWelcome() throws {
        let many = (0...NodeURL.maxNodes).map { "wss://node-\($0):7443" }
        #expect(throws: WireDecodeError.self) { try Self.codec.decode(try Self.codec.encode(Self.welcome(nodes: many))) }
        let huge = ["wss://" + String(repeating: "n", count: NodeURL.maxBytes)]
        #expect(throws: WireDecodeError.self) { try Self.codec.decode(try Self.codec.encode(Self.welcome(nodes: huge))) }
        let most = Self.welcome(nodes: Array(many.prefix(NodeURL.maxNodes)))
        #expect(try Self.codec.decode(try Self.codec.encode(most)) == most)
        let base = String(decoding: try Self.codec.encode(Self.welcome(nodes: ["wss://x"])), as: UTF8.self)
        for hostile in ["[1e999]", "[NaN]", "[null]", "{\"a\":1}", "\"wss://x\"", "[[\"wss://x\"]]", "[-1]"] {
            let text = base.replacingOccurrences(of: "[\"wss:\\/\\/x\"]", with: hostile).replacingOccurrences(of: "[\"wss://x\"]", with: hostile)
            #expect(text != base)
            #expect(throws: WireDecodeError.self, "\(hostile)") { try Self.codec.decode(Data(text.utf8)) }
        }
        // Non-URL text in range decodes: the agent leaves such entries out (with a log line).
        #expect(try Self.codec.decode(try Self.codec.encode(Self.welcome(nodes: ["not a url", "\u{1b}[31m"]))) == Self.welcome(nodes: ["not a url", "\u{1b}[31m"]))
    }

    @Test("a close hint names another node under 4008 and reads back; a hostile one is dropped")
    func reconnectHint() {
        let hint = CloseHint.reconnect(to: "wss://node-2.example.com:7443/agent")
        #expect(hint.code == .serverShutdown)
        #expect(hint.reason == "server=wss://node-2.example.com:7443/agent")
        #expect(CloseHint.parse(code: .serverShutdown, reason: hint.reason) == hint)
        #expect(CloseHint.parse(code: .serverShutdown, reason: "draining server=ws://10.0.0.2:7443 extra") == .reconnect(to: "ws://10.0.0.2:7443"))
        let longest = "wss://" + String(repeating: "n", count: NodeURL.maxHintBytes - 6)
        #expect(CloseHint.reconnect(to: longest).reason.utf8.count <= 123)
        for reason in ["", "server shutting down", "server=", "server=https://x", "server=wss://" + String(repeating: "n", count: NodeURL.maxHintBytes),
                       "server=wss://a\u{7}b", "server=wss://user@x", "server==wss://x"] {
            #expect(CloseHint.parse(code: .serverShutdown, reason: reason) == nil, "\(reason.debugDescription)")
        }
        // Another code never carries it.
        #expect(CloseHint.parse(code: .normal, reason: hint.reason) == nil)
    }

    @Test("trusted proxies: CIDR blocks of both families, mapped IPv4, bad values refused")
    func trustedProxies() throws {
        let proxies = try TrustedProxies(parsing: ["127.0.0.1/32", "10.0.0.0/8", "2001:db8::/32", "192.0.2.9"])
        #expect(proxies.trusts([127, 0, 0, 1]) && proxies.trusts([10, 255, 1, 2]) && proxies.trusts([192, 0, 2, 9]))
        #expect(!proxies.trusts([127, 0, 0, 2]) && !proxies.trusts([11, 0, 0, 1]) && !proxies.trusts([192, 0, 2, 8]))
        #expect(proxies.trusts(Array(repeating: 0, count: 10) + [0xFF, 0xFF, 10, 1, 2, 3]))
        #expect(proxies.trusts([0x20, 0x01, 0x0d, 0xb8] + Array(repeating: 0xAB, count: 12)))
        #expect(!proxies.trusts([0x20, 0x01, 0x0d, 0xb9] + Array(repeating: 0, count: 12)))
        #expect(try TrustedProxies.Block(parsing: "0.0.0.0/0").contains([8, 8, 8, 8]))
        #expect(try TrustedProxies.Block(parsing: "10.1.2.3/8").description == "10.0.0.0/8")
        for bad in ["", "10.0.0.0/33", "::/129", "10.0.0.0/-1", "10.0.0.0/", "10.0.0/8", "host.example", "10.0.0.0/8/8", "10.0.0.0/0008", "::1%eth0"] {
            #expect(throws: TrustedProxyError.self, "\(bad)") { try TrustedProxies.Block(parsing: bad) }
        }
        #expect(TrustedProxies().isEmpty)
    }

    @Test("X-Forwarded-For: only from a trusted peer, the rightmost address that is not a trusted proxy")
    func forwardedFor() throws {
        let proxies = try TrustedProxies(parsing: ["127.0.0.1/32", "10.0.0.0/8"])
        let proxy: [UInt8] = [127, 0, 0, 1]
        #expect(proxies.forwardedClient(peer: proxy, headers: ["198.51.100.7"]) == [198, 51, 100, 7])
        // The client's own claim (left) is never read past the first untrusted address.
        #expect(proxies.forwardedClient(peer: proxy, headers: ["6.6.6.6, 198.51.100.7, 10.1.1.1"]) == [198, 51, 100, 7])
        #expect(proxies.forwardedClient(peer: proxy, headers: ["6.6.6.6", "198.51.100.7 , 10.1.1.1"]) == [198, 51, 100, 7])
        #expect(proxies.forwardedClient(peer: [203, 0, 113, 1], headers: ["198.51.100.7"]) == nil, "an untrusted peer's header is ignored")
        #expect(proxies.forwardedClient(peer: proxy, headers: []) == nil)
        #expect(proxies.forwardedClient(peer: proxy, headers: ["garbage"]) == nil)
        #expect(proxies.forwardedClient(peer: proxy, headers: ["garbage, 10.2.2.2"]) == [10, 2, 2, 2], "stops at the last address read")
        #expect(proxies.forwardedClient(peer: proxy, headers: ["2001:db8::7"])?.count == 16)
        let long = Array(repeating: "10.0.0.1", count: 10_000).joined(separator: ",")
        #expect(proxies.forwardedClient(peer: proxy, headers: ["198.51.100.7," + long]) == [10, 0, 0, 1], "a long chain is cut")
    }
}
