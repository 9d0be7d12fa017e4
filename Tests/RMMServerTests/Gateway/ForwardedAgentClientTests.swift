import NIOCore
import NIOEmbedded
import NIOHTTP1
import RMMProtocol
import Testing
@testable import RMMServer

@Suite("Agent port: the client a trusted proxy's X-Forwarded-For names")
struct ForwardedAgentClientTests {
    private let trusted: TrustedProxies
    private let proxy: SocketAddress
    private let stranger: SocketAddress

    init() throws {
        trusted = try TrustedProxies(parsing: ["127.0.0.2/32"])
        proxy = try SocketAddress(ipAddress: "127.0.0.2", port: 41_000)
        stranger = try SocketAddress(ipAddress: "127.0.0.3", port: 41_000)
    }

    @Test("a trusted proxy's rightmost untrusted entry is the client; anyone else's header is ignored")
    func choice() throws {
        var client = ForwardedAgentClient(trusted: trusted)
        #expect(client.isProxy(proxy) && !client.isProxy(stranger) && !client.isProxy(nil))
        let named = try SocketAddress(ipAddress: "198.51.100.7", port: 0)
        #expect(client.headersRead(sender: proxy, forwardedFor: ["6.6.6.6, 198.51.100.7, 127.0.0.2"]) == .forwarded(named))
        #expect(client.headersRead(sender: proxy, forwardedFor: ["203.0.113.9"]) == .forwarded(named), "the first decision stands")

        var fromStranger = ForwardedAgentClient(trusted: trusted)
        #expect(fromStranger.headersRead(sender: stranger, forwardedFor: ["198.51.100.7"]) == .keep)
        var withoutHeader = ForwardedAgentClient(trusted: trusted)
        #expect(withoutHeader.headersRead(sender: proxy, forwardedFor: []) == .keep, "a proxy's own request (a health check) is its own")
        var untrustedSetup = ForwardedAgentClient(trusted: TrustedProxies())
        #expect(untrustedSetup.headersRead(sender: proxy, forwardedFor: ["198.51.100.7"]) == .keep)
        var six = ForwardedAgentClient(trusted: trusted)
        #expect(six.headersRead(sender: proxy, forwardedFor: ["2001:db8::7"]) == .forwarded(try SocketAddress(ipAddress: "2001:db8::7", port: 0)))
    }

    @Test("a trusted proxy's malformed or oversized header is refused, never guessed around")
    func refusals() throws {
        let cases: [(String, [String])] = [
            ("not an IP address", ["garbage"]),
            ("not an IP address", [""]),
            ("not an IP address", ["198.51.100.7, 127.0.0.2:80"]),
            ("longer than \(TrustedProxies.maxForwardedBytes) bytes", ["198.51.100.7 " + String(repeating: " ", count: TrustedProxies.maxForwardedBytes)]),
            ("more than \(TrustedProxies.maxForwardedHops) trusted proxies", [Array(repeating: "127.0.0.2", count: 40).joined(separator: ",")]),
        ]
        for (why, headers) in cases {
            var client = ForwardedAgentClient(trusted: trusted)
            guard case .refuse(let reason) = client.headersRead(sender: proxy, forwardedFor: headers) else {
                Issue.record("\(headers.map { $0.prefix(40) }) was not refused")
                continue
            }
            #expect(reason.contains(why), "\(reason)")
            var fromStranger = ForwardedAgentClient(trusted: trusted)
            #expect(fromStranger.headersRead(sender: stranger, forwardedFor: headers) == .keep, "a stranger's header is not even read")
        }
    }

    @Test("the API's reading is unchanged: an unreadable chain keeps the last address read")
    func apiReading() throws {
        let peer: [UInt8] = [127, 0, 0, 2]
        let reading = try #require(trusted.readForwarded(peer: peer, headers: ["garbage, 127.0.0.2"]))
        #expect(reading.client == peer && reading.problem != nil)
        #expect(trusted.forwardedClient(peer: peer, headers: ["garbage, 127.0.0.2"]) == peer)
        #expect(trusted.readForwarded(peer: [127, 0, 0, 3], headers: ["198.51.100.7"]) == nil)
        #expect(trusted.readForwarded(peer: peer, headers: []) == nil)
    }

    @Test("the limiter moves a proxy's connection to its client, within the client's limit, keeping the total")
    func transfer() throws {
        let limiter = AddressLimiter(maxUnauthenticated: 1, maxFailures: 5, maxUnauthenticatedTotal: 10)
        let first = try limiter.admission("127.0.0.2", asProxy: true).get()
        let second = try limiter.admission("127.0.0.2", asProxy: true).get()
        #expect(limiter.unauthenticatedCount("127.0.0.2") == 2, "a proxy is held to the total only")
        #expect(limiter.admit("127.0.0.2") == nil, "the same address, not as a proxy, has the per-address limit")

        let moved = try limiter.transfer(first, to: "198.51.100.7").get()
        #expect(!first.isHeld && moved.isHeld && moved.address == "198.51.100.7")
        #expect(limiter.unauthenticatedCount("127.0.0.2") == 1 && limiter.unauthenticatedCount("198.51.100.7") == 1)
        #expect(limiter.unauthenticatedTotal == 2)
        first.release()
        #expect(limiter.unauthenticatedTotal == 2, "the moved-from slot gives nothing back")

        #expect(throws: AddressLimiter.Refusal.address) { try limiter.transfer(second, to: "198.51.100.7").get() }
        #expect(second.isHeld, "a refused move leaves the connection where it was")
        moved.release()
        second.release()
        #expect(limiter.unauthenticatedTotal == 0)
    }

    @Test("the connection guard admits a proxy's connection, moves it on the header, and refuses a bad one with 400")
    func connectionGuard() throws {
        let limiter = AddressLimiter(maxUnauthenticated: 1, maxFailures: 5)
        func connection(from peer: SocketAddress) throws -> (EmbeddedChannel, AgentConnectionGuard) {
            let handler = AgentConnectionGuard(limiter: limiter, requestTimeout: 3, logger: Fixture.quietLogger, trusted: trusted)
            let channel = EmbeddedChannel(handler: handler)
            try channel.connect(to: peer).wait()
            return (channel, handler)
        }
        let (first, firstGuard) = try connection(from: proxy)
        let (second, secondGuard) = try connection(from: proxy)
        #expect(try first.readOutbound(as: ByteBuffer.self) == nil)
        #expect(try second.readOutbound(as: ByteBuffer.self) == nil, "two of a proxy's connections fit where one of an address's would")

        var headers = HTTPHeaders()
        headers.add(name: "X-Forwarded-For", value: "198.51.100.7")
        #expect(firstGuard.headersRead(headers, channel: first) == nil)
        #expect(firstGuard.client(of: first)?.peerDescription == "198.51.100.7")
        #expect(try firstGuard.requestComplete().address == "198.51.100.7")
        #expect(limiter.unauthenticatedCount("198.51.100.7") == 1 && limiter.unauthenticatedCount("127.0.0.2") == 1)

        let busy = secondGuard.headersRead(headers, channel: second)
        #expect(busy?.status == .tooManyRequests, "the client holds its one slot already")
        let busyAnswer = String(buffer: try #require(try second.readOutbound(as: ByteBuffer.self)))
        #expect(busyAnswer.hasPrefix("HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\n"), "\(busyAnswer)")

        let (third, thirdGuard) = try connection(from: proxy)
        var bad = HTTPHeaders()
        bad.add(name: "X-Forwarded-For", value: "198.51.100.7; rm -rf")
        let refusal = thirdGuard.headersRead(bad, channel: third)
        #expect(refusal?.status == .badRequest && refusal?.body.contains("not an IP address") == true, "\(String(describing: refusal))")
        let answer = String(buffer: try #require(try third.readOutbound(as: ByteBuffer.self)))
        #expect(answer.hasPrefix("HTTP/1.1 400 Bad Request\r\n") && answer.contains("(from a --trusted-proxy address)"), "\(answer)")
        #expect(thirdGuard.headersRead(headers, channel: third) == refusal, "asked again, the same answer")
        #expect(try third.readOutbound(as: ByteBuffer.self) == nil, "and no second answer")

        let (direct, directGuard) = try connection(from: stranger)
        #expect(directGuard.headersRead(headers, channel: direct) == nil)
        #expect(directGuard.client(of: direct)?.peerDescription == "127.0.0.3:41000", "a stranger's header is ignored")

        for refused in [second, third] {
            refused.embeddedEventLoop.advanceTime(by: .seconds(1))
            #expect(!refused.isActive, "a refused connection closes itself")
        }
        for channel in [first, direct] { _ = try channel.finish() }
        #expect(limiter.unauthenticatedTotal == 0, "every slot, moved or not, is given back at close")
    }
}
