import NIOCore
import NIOEmbedded
import RMMProtocol
import Testing
@testable import RMMServer

@Suite("Per-address limits on the agent port")
struct AddressLimiterTests {
    private let t0 = ContinuousClock.now

    @Test("unauthenticated connections: at most the limit per address, each slot given back once")
    func unauthenticatedSlots() throws {
        let limiter = AddressLimiter(maxUnauthenticated: 2, maxFailures: 5)
        let first = try #require(limiter.admit("10.0.0.1"))
        let second = try #require(limiter.admit("10.0.0.1"))
        #expect(limiter.admit("10.0.0.1") == nil, "a third connection from the same address is refused")
        #expect(limiter.admit("10.0.0.2") != nil, "other addresses have their own count")
        #expect(limiter.unauthenticatedCount("10.0.0.1") == 2)

        first.release()
        first.release()
        #expect(!first.isHeld)
        #expect(limiter.unauthenticatedCount("10.0.0.1") == 1, "releasing twice gives back one slot, not two")
        let third = try #require(limiter.admit("10.0.0.1"))
        #expect(limiter.admit("10.0.0.1") == nil)
        second.release()
        third.release()
        #expect(limiter.unauthenticatedCount("10.0.0.1") == 0)
    }

    @Test("failed authentications: blocked at the limit, for as long as the oldest counted failure is in the window")
    func failureWindow() {
        let limiter = AddressLimiter(maxUnauthenticated: 1, maxFailures: 3)
        let address = "127.0.0.3"
        #expect(!limiter.recordFailure(address, now: t0))
        #expect(!limiter.recordFailure(address, now: t0 + .seconds(10)))
        #expect(limiter.block(for: address, now: t0 + .seconds(10)) == nil, "two failures are under the limit of three")
        #expect(limiter.recordFailure(address, now: t0 + .seconds(20)), "the third failure reaches the limit")

        let block = limiter.block(for: address, now: t0 + .seconds(22.5))
        #expect(block == AddressLimiter.Block(address: address, failures: 3, retryAfterSeconds: 38))
        #expect(block?.reason == "too many failed authentications from 127.0.0.3 (3 in the last minute); retry in 38 s")
        #expect(limiter.block(for: "127.0.0.4", now: t0 + .seconds(22.5)) == nil, "other addresses are not blocked")

        // The first failure leaves the window at t0 + 60 s: two remain, under the limit.
        #expect(limiter.block(for: address, now: t0 + .seconds(59.5))?.retryAfterSeconds == 1)
        #expect(limiter.block(for: address, now: t0 + .seconds(60)) == nil)
        // One more failure makes three within the window again, until t0 + 10 s leaves it.
        #expect(limiter.recordFailure(address, now: t0 + .seconds(61)))
        #expect(limiter.block(for: address, now: t0 + .seconds(61))?.retryAfterSeconds == 9)
        #expect(limiter.block(for: address, now: t0 + .seconds(130)) == nil)
        #expect(!limiter.recordFailure(address, now: t0 + .seconds(130)), "older failures have aged out")
    }

    @Test("many addresses: failures of long ago do not block and are swept")
    func manyAddresses() {
        let limiter = AddressLimiter(maxUnauthenticated: 1, maxFailures: 1)
        for i in 0..<3000 { limiter.recordFailure("10.1.\(i / 256).\(i % 256)", now: t0) }
        #expect(limiter.block(for: "10.1.0.0", now: t0 + .seconds(30)) != nil)
        for i in 0..<3000 { limiter.recordFailure("10.2.\(i / 256).\(i % 256)", now: t0 + .seconds(120)) }
        #expect(limiter.block(for: "10.1.0.0", now: t0 + .seconds(120)) == nil)
        #expect(limiter.block(for: "10.2.0.0", now: t0 + .seconds(121))?.retryAfterSeconds == 59)
        #expect(limiter.trackedFailureAddresses == 3000, "the 3000 addresses of two minutes ago were swept")
    }

    @Test("addresses are counted as IPv4, or as their IPv6 /64")
    func keys() throws {
        #expect(AddressLimiter.key(for: try SocketAddress(ipAddress: "127.0.0.2", port: 4000)) == "127.0.0.2")
        #expect(AddressLimiter.key(for: try SocketAddress(ipAddress: "::ffff:192.0.2.7", port: 4000)) == "192.0.2.7")
        let a = AddressLimiter.key(for: try SocketAddress(ipAddress: "2001:db8:1:2:aaaa::1", port: 4000))
        let b = AddressLimiter.key(for: try SocketAddress(ipAddress: "2001:db8:1:2:bbbb::9", port: 4000))
        #expect(a == "2001:db8:1:2::/64")
        #expect(a == b)
        #expect(AddressLimiter.key(for: nil) == "unknown")
    }

    @Test("4009 is retryable for the agent; which refusals count as failures")
    func closeCodes() {
        #expect(CloseCode.rateLimited.rawValue == 4009)
        #expect(!CloseCode.rateLimited.isPermanent)
        #expect(AgentHandshake.countsAsFailure(.authenticationFailed))
        #expect(AgentHandshake.countsAsFailure(.protocolError))
        #expect(AgentHandshake.countsAsFailure(.invalidPayload))
        #expect(!AgentHandshake.countsAsFailure(.handshakeTimeout), "a slow agent is not a wrong one")
        #expect(!AgentHandshake.countsAsFailure(.revoked))
        #expect(!AgentHandshake.countsAsFailure(.internalError))
    }

    @Test("the connection guard answers 429 over the limit without reading, and 408 at the request deadline")
    func connectionGuard() throws {
        let limiter = AddressLimiter(maxUnauthenticated: 1, maxFailures: 5)
        let address = try SocketAddress(ipAddress: "127.0.0.2", port: 40_000)

        let holder = EmbeddedChannel(handler: AgentConnectionGuard(limiter: limiter, requestTimeout: 2, logger: Fixture.quietLogger))
        try holder.connect(to: address).wait()
        #expect(limiter.unauthenticatedCount("127.0.0.2") == 1)
        try holder.writeInbound(ByteBuffer(string: "GET /agent HTTP/1.1\r\n"))
        #expect(try holder.readInbound(as: ByteBuffer.self) == ByteBuffer(string: "GET /agent HTTP/1.1\r\n"), "admitted bytes pass on")

        let extra = EmbeddedChannel(handler: AgentConnectionGuard(limiter: limiter, requestTimeout: 2, logger: Fixture.quietLogger))
        try extra.connect(to: address).wait()
        let refusal = String(buffer: try #require(try extra.readOutbound(as: ByteBuffer.self)))
        #expect(refusal.hasPrefix("HTTP/1.1 429 Too Many Requests\r\n"))
        #expect(refusal.contains("Retry-After: 2\r\n"))
        #expect(refusal.contains("too many unauthenticated connections from 127.0.0.2: at most 1 per address"))
        try extra.writeInbound(ByteBuffer(string: "GET /agent HTTP/1.1\r\n\r\n"))
        #expect(try extra.readInbound(as: ByteBuffer.self) == nil, "a refused connection's bytes are never parsed")
        extra.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!extra.isActive)

        holder.embeddedEventLoop.advanceTime(by: .milliseconds(1999))
        #expect(try holder.readOutbound(as: ByteBuffer.self) == nil)
        holder.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        let timeout = String(buffer: try #require(try holder.readOutbound(as: ByteBuffer.self)))
        #expect(timeout.hasPrefix("HTTP/1.1 408 Request Timeout\r\n"))
        #expect(timeout.contains("no complete HTTP request within 2 s"))
        holder.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!holder.isActive)
        #expect(limiter.unauthenticatedCount("127.0.0.2") == 0, "closing gives the slot back")

        // A complete request stops the deadline; the slot stays held until released.
        let agent = EmbeddedChannel(handler: AgentConnectionGuard(limiter: limiter, requestTimeout: 2, logger: Fixture.quietLogger))
        try agent.connect(to: address).wait()
        let slot = try agent.pipeline.syncOperations.handler(type: AgentConnectionGuard.self).requestComplete()
        agent.embeddedEventLoop.advanceTime(by: .seconds(10))
        #expect(try agent.readOutbound(as: ByteBuffer.self) == nil)
        #expect(agent.isActive)
        slot.release()
        #expect(limiter.unauthenticatedCount("127.0.0.2") == 0)
        _ = try agent.finish()
    }

    private func refusal(_ admission: Result<ConnectionSlot, AddressLimiter.Refusal>) -> AddressLimiter.Refusal? {
        if case .failure(let refusal) = admission { return refusal }
        return nil
    }

    @Test("all addresses together: at most the global limit, the per-address one still applies, released slots count again")
    func globalLimit() throws {
        let limiter = AddressLimiter(maxUnauthenticated: 2, maxFailures: 5, maxUnauthenticatedTotal: 3)
        let a = try limiter.admission("10.0.0.1").get()
        _ = try limiter.admission("10.0.0.1").get()
        #expect(refusal(limiter.admission("10.0.0.1")) == .address, "the address's own limit comes first")
        let c = try limiter.admission("10.0.0.2").get()
        #expect(limiter.unauthenticatedTotal == 3)
        #expect(refusal(limiter.admission("10.0.0.3")) == .total, "a fresh address is refused once the server holds the total")
        #expect(limiter.admit("10.0.0.4") == nil)
        #expect(limiter.unauthenticatedTotal == 3, "refusals take nothing")

        a.release()
        a.release()
        #expect(limiter.unauthenticatedTotal == 2, "a slot released twice gives back one place")
        let d = try limiter.admission("10.0.0.3").get()
        #expect(refusal(limiter.admission("10.0.0.5")) == .total)
        c.release()
        d.release()
        #expect(limiter.unauthenticatedTotal == 1)
        #expect(limiter.unauthenticatedCount("10.0.0.3") == 0)
    }

    @Test("the connection guard answers 503 with Retry-After over the global limit without reading")
    func connectionGuardGlobal() throws {
        let limiter = AddressLimiter(maxUnauthenticated: 5, maxFailures: 5, maxUnauthenticatedTotal: 1)
        let holder = EmbeddedChannel(handler: AgentConnectionGuard(limiter: limiter, requestTimeout: 3, logger: Fixture.quietLogger))
        try holder.connect(to: try SocketAddress(ipAddress: "127.0.0.2", port: 40_000)).wait()

        let extra = EmbeddedChannel(handler: AgentConnectionGuard(limiter: limiter, requestTimeout: 3, logger: Fixture.quietLogger))
        try extra.connect(to: try SocketAddress(ipAddress: "127.0.0.3", port: 40_000)).wait()
        let refusal = String(buffer: try #require(try extra.readOutbound(as: ByteBuffer.self)))
        #expect(refusal.hasPrefix("HTTP/1.1 503 Service Unavailable\r\n"))
        #expect(refusal.contains("Retry-After: 3\r\n"))
        #expect(refusal.contains("limit of 1 unauthenticated connections (gururmm server --max-unauthenticated)"))
        try extra.writeInbound(ByteBuffer(string: "GET /agent HTTP/1.1\r\n\r\n"))
        #expect(try extra.readInbound(as: ByteBuffer.self) == nil, "a refused connection's bytes are never parsed")
        extra.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!extra.isActive)
        #expect(limiter.unauthenticatedTotal == 1)
        _ = try holder.finish()
        #expect(limiter.unauthenticatedTotal == 0, "closing gives the slot back")
    }

    @Test("the connection guard answers 431 to a request longer than the limit, and passes nothing more on")
    func connectionGuardLongRequest() throws {
        let limiter = AddressLimiter(maxUnauthenticated: 5, maxFailures: 5)
        let channel = EmbeddedChannel(handler: AgentConnectionGuard(limiter: limiter, requestTimeout: 3, logger: Fixture.quietLogger))
        try channel.connect(to: try SocketAddress(ipAddress: "127.0.0.2", port: 40_000)).wait()
        let head = "GET /agent HTTP/1.1\r\nX-Filler: "
        try channel.writeInbound(ByteBuffer(string: head))
        #expect(try channel.readInbound(as: ByteBuffer.self) != nil)
        let filler = String(repeating: "a", count: WireLimits.maxUpgradeRequestBytes - head.utf8.count)
        try channel.writeInbound(ByteBuffer(string: filler))
        #expect(try channel.readInbound(as: ByteBuffer.self) != nil, "exactly the limit still passes")
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
        try channel.writeInbound(ByteBuffer(string: "a"))
        #expect(try channel.readInbound(as: ByteBuffer.self) == nil, "the byte past the limit is not passed on")
        let answer = String(buffer: try #require(try channel.readOutbound(as: ByteBuffer.self)))
        #expect(answer.hasPrefix("HTTP/1.1 431 Request Header Fields Too Large\r\n"))
        #expect(answer.contains("longer than \(WireLimits.maxUpgradeRequestBytes) bytes"))
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!channel.isActive)
        #expect(limiter.unauthenticatedTotal == 0)
    }
}
