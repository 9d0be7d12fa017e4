import Crypto
import Foundation
import NIOCore
import NIOWebSocket
import RMMProtocol
import RMMStore
import RMMTestSupport
import Synchronization
import Testing
@testable import RMMServer
import RMMTransport

/// A connection still in its handshake when the gateway closed its sessions for a shutdown is
/// told 4008 `serverShutdown` too, instead of attaching to a server that is going away.
@Suite struct ShutdownAttachTests {
    @Test("a hello whose lookup happened before the shutdown began is closed with 4008 and does not attach")
    func handshakeInFlightDuringShutdown() async throws {
        let store = try SQLiteStore.inMemory()
        _ = try await store.createEnrollmentToken(hash: "tok", expiresAt: nil, uses: 10, now: Fixture.t0)
        let key = Curve25519.Signing.PrivateKey()
        let agent = try await store.enrollAgent(
            tokenHash: "tok", publicKey: key.publicKey.rawRepresentation.base64EncodedString(), facts: Fixture.facts("web-1"), now: Fixture.t0
        )
        let registry = SessionRegistry(store: store, feed: ChangeFeed(), settings: ServerSettings(), config: .defaults, signer: Fixture.signer,
                                       logger: Fixture.quietLogger)
        var handshake = AgentHandshake(
            store: store, registry: registry, settings: ServerSettings(), logger: Fixture.quietLogger, serverVersion: "test",
            limiter: AddressLimiter(maxUnauthenticated: 4, maxFailures: 4)
        )
        // The gateway's shutdown lands exactly between the handshake's lookup and its attach: it
        // closes every session it knows, none of which has this connection yet.
        let closedSessions = Mutex(-1)
        handshake.afterLookup = { _ in
            let sessions = await registry.beginShutdown()
            for session in sessions { await session.close(.serverShutdown, reason: SessionRegistry.shutdownReason) }
            closedSessions.withLock { $0 = sessions.count }
        }
        let link = try await TestLink.make()
        let slot = try #require(AddressLimiter(maxUnauthenticated: 1, maxFailures: 1).admit("192.0.2.1"))
        let running = Task { await handshake.run(link.link, request: AgentUpgradeRequest(uri: "/agent"), slot: slot) }

        let seen = Mutex<[Written]>([])
        try await waitUntil("the challenge is written") {
            let drained = try await link.drain()
            return seen.withLock { $0 += drained; return !$0.isEmpty }
        }
        let written = seen.withLock { $0 }
        guard case .message(let first) = written[0], case .challenge(let challenge) = first.message else {
            Issue.record("expected a challenge, got \(written)")
            return
        }
        let hello = Hello(
            agentId: agent.id, signature: try AgentProof.sign(nonce: challenge.nonce, agentId: agent.id, key: key),
            facts: Fixture.facts("web-1"), stream: "as", received: nil
        )
        let encoded = try WireCodec().encode(Envelope(.hello(hello)))
        try await link.channel.writeInbound(WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(bytes: Array(encoded))))
        await running.value
        #expect(closedSessions.withLock { $0 } == 1, "the agent's session existed, without a connection, when the gateway closed the sessions")
        let after = try await link.drain()
        #expect(after == [.close(code: CloseCode.serverShutdown.rawValue, reason: SessionRegistry.shutdownReason)], "no welcome: \(after)")
        #expect(await registry.existingSession(for: agent.id)?.connection == nil)
        #expect(await registry.isShuttingDown)
    }
}
