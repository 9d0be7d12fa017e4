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

/// An enrolled agent, its registry and an `AgentHandshake` over an in-memory store, for tests
/// that put an event (`handshake.afterLookup`) between the handshake's lookup and its attach.
struct HandshakeRig {
    let store: SQLiteStore
    let agent: AgentRecord
    let key: Curve25519.Signing.PrivateKey
    let registry: SessionRegistry
    var handshake: AgentHandshake

    static func make() async throws -> HandshakeRig {
        let store = try SQLiteStore.inMemory()
        _ = try await store.createEnrollmentToken(hash: "tok", expiresAt: nil, uses: 10, now: Fixture.t0)
        let key = Curve25519.Signing.PrivateKey()
        let agent = try await store.enrollAgent(
            tokenHash: "tok", publicKey: key.publicKey.rawRepresentation.base64EncodedString(), facts: Fixture.facts("web-1"), now: Fixture.t0
        )
        let registry = SessionRegistry(store: store, feed: ChangeFeed(), settings: ServerSettings(), config: .defaults, signer: Fixture.signer,
                                       logger: Fixture.quietLogger)
        let handshake = AgentHandshake(
            store: store, registry: registry, settings: ServerSettings(), logger: Fixture.quietLogger, serverVersion: "test",
            limiter: AddressLimiter(maxUnauthenticated: 4, maxFailures: 4)
        )
        return HandshakeRig(store: store, agent: agent, key: key, registry: registry, handshake: handshake)
    }

    /// Runs the handshake on a fresh test link, answers its challenge with the agent's hello, and
    /// returns the link once the handshake has returned (what it wrote after the challenge is still there to drain).
    func helloToTheEnd() async throws -> TestLink {
        let link = try await TestLink.make()
        let slot = try #require(AddressLimiter(maxUnauthenticated: 1, maxFailures: 1).admit("192.0.2.1"))
        let handshake = self.handshake
        let running = Task { await handshake.run(link.link, request: AgentUpgradeRequest(uri: "/agent"), slot: slot) }
        let seen = Mutex<[Written]>([])
        try await waitUntil("the challenge is written") {
            let drained = try await link.drain()
            return seen.withLock { $0 += drained; return !$0.isEmpty }
        }
        let written = seen.withLock { $0 }
        guard case .message(let first) = written[0], case .challenge(let challenge) = first.message else {
            running.cancel()
            throw RigFailure(description: "expected a challenge, got \(written)")
        }
        let hello = Hello(
            agentId: agent.id, signature: try AgentProof.sign(nonce: challenge.nonce, agentId: agent.id, key: key),
            facts: Fixture.facts("web-1"), stream: "as", received: nil
        )
        let encoded = try WireCodec().encode(Envelope(.hello(hello)))
        try await link.channel.writeInbound(WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(bytes: Array(encoded))))
        await running.value
        return link
    }

    private struct RigFailure: Error, CustomStringConvertible {
        var description: String
    }
}
