import RMMProtocol
import Synchronization
import Testing
@testable import RMMServer

/// A connection still in its handshake when the gateway closed its sessions for a shutdown is
/// told 4008 `serverShutdown` too, instead of attaching to a server that is going away.
@Suite struct ShutdownAttachTests {
    @Test("a hello whose lookup happened before the shutdown began is closed with 4008 and does not attach")
    func handshakeInFlightDuringShutdown() async throws {
        var rig = try await HandshakeRig.make()
        let (registry, agent) = (rig.registry, rig.agent)
        // The gateway's shutdown lands exactly between the handshake's lookup and its attach: it
        // closes every session it knows, none of which has this connection yet.
        let closedSessions = Mutex(-1)
        rig.handshake.afterLookup = { _ in
            let sessions = await registry.beginShutdown()
            for session in sessions { await session.close(.serverShutdown, reason: SessionRegistry.shutdownReason) }
            closedSessions.withLock { $0 = sessions.count }
        }
        let link = try await rig.helloToTheEnd()
        #expect(closedSessions.withLock { $0 } == 1, "the agent's session existed, without a connection, when the gateway closed the sessions")
        let after = try await link.drain()
        #expect(after == [.close(code: CloseCode.serverShutdown.rawValue, reason: SessionRegistry.shutdownReason)], "no welcome: \(after)")
        #expect(await registry.existingSession(for: agent.id)?.connection == nil)
        #expect(await registry.isShuttingDown)
    }

    @Test("while the node drains, a hello in flight is sent to another node in its close hint")
    func handshakeInFlightDuringDrain() async throws {
        var rig = try await HandshakeRig.make()
        let registry = rig.registry
        rig.handshake.afterLookup = { _ in
            await registry.sendLateConnections(to: ["ws://127.0.0.1:7002/agent"])
            _ = await registry.beginShutdown()
        }
        let link = try await rig.helloToTheEnd()
        let after = try await link.drain()
        #expect(after == [.close(code: CloseCode.serverShutdown.rawValue, reason: "server=ws://127.0.0.1:7002/agent")], "no welcome: \(after)")
        #expect(CloseHint.parse(code: .serverShutdown, reason: "server=ws://127.0.0.1:7002/agent") == .reconnect(to: "ws://127.0.0.1:7002/agent"))
    }
}
