import Foundation
import Logging
import RMMProtocol
import RMMStore
import RMMTransport

/// Authenticates a fresh agent connection (challenge → hello or enroll), then runs its message loop:
/// the loop only hands each decoded message to the agent's session, in order.
struct AgentHandshake: Sendable {
    let store: any Store
    let registry: SessionRegistry
    let settings: ServerSettings
    let logger: Logger
    let serverVersion: String

    func run(_ link: WebSocketLink, request: AgentUpgradeRequest) async {
        let nonce = AgentProof.makeNonce()
        link.send(Envelope(.challenge(Challenge(nonce: nonce, serverVersion: serverVersion))))
        // The handshake deadline: an agent that does not authenticate in time is closed.
        let timer = Task {
            try await Task.sleep(for: .seconds(settings.handshakeTimeout))
            link.close(.handshakeTimeout, reason: "no hello within \(Int(settings.handshakeTimeout)) s")
        }
        defer { timer.cancel() }
        var events = link.events.makeAsyncIterator()
        guard let first = await events.next() else { return }
        guard case .message(let envelope) = first else { return }
        link.markHandled()
        let admitted: (agentId: String, facts: AgentFacts, stream: String, peerSaw: StreamPosition?)
        switch envelope.message {
        case .hello(let hello):
            guard let agent = await lookup(hello.agentId) else {
                refuse(link, .authenticationFailed, "unknown agent id \(hello.agentId); enroll again with a token")
                return
            }
            if agent.revokedAt != nil {
                refuse(link, .revoked, "agent \(agent.id) is revoked")
                return
            }
            guard AgentProof.verify(signature: hello.signature, nonce: nonce, agentId: hello.agentId, publicKey: agent.publicKey) else {
                refuse(link, .authenticationFailed, "signature does not match the key enrolled for \(agent.id)")
                return
            }
            admitted = (agent.id, hello.facts, hello.stream, hello.received)
        case .enroll(let enroll):
            guard AgentProof.verify(signature: enroll.signature, nonce: nonce, agentId: enroll.publicKey, publicKey: enroll.publicKey) else {
                refuse(link, .authenticationFailed, "enrollment signature does not match the public key")
                return
            }
            do {
                let agent = try await store.enrollAgent(
                    tokenHash: CommandService.sha256Hex(EnrollmentToken(parsing: enroll.token).secret),
                    publicKey: enroll.publicKey, facts: enroll.facts, now: Date()
                )
                if agent.revokedAt != nil {
                    refuse(link, .revoked, "agent \(agent.id) is revoked")
                    return
                }
                logger.info("agent enrolled", metadata: ["agent": "\(agent.id)", "name": "\(agent.name)"])
                admitted = (agent.id, enroll.facts, enroll.stream, nil)
            } catch let error as StoreError {
                refuse(link, .authenticationFailed, "enrollment refused: \(error.description)")
                return
            } catch {
                refuse(link, .internalError, "enrollment failed on the server")
                logger.error("enrollment failed: \(error)")
                return
            }
        default:
            refuse(link, .protocolError, "expected hello or enroll first, got '\(envelope.message.type)'")
            return
        }
        timer.cancel()
        let record: AgentRecord
        do {
            record = try await store.recordConnect(agentId: admitted.agentId, facts: admitted.facts, now: Date())
        } catch {
            logger.error("could not record connect of \(admitted.agentId): \(error)")
            refuse(link, .internalError, "server could not record the connection; retry")
            return
        }
        let session = await registry.session(for: record.id)
        // After a size blackhole the agent must come back with small packets before it gets a
        // session: a short close passes where the welcome (and any command) would not.
        if let limits = await session.requiredPacketLimits(agentMSS: request.mss) {
            refuse(link, .shrinkPackets, limits)
            return
        }
        await session.attach(link: link, epoch: record.epoch, agentStream: admitted.stream, peerSaw: admitted.peerSaw, now: Date())
        while let event = await events.next() {
            switch event {
            case .message(let envelope):
                await session.handle(envelope, epoch: record.epoch, now: Date())
                link.markHandled()
            case .closed(let closure):
                await session.detach(epoch: record.epoch, closure: closure, now: Date())
                return
            }
        }
        await session.detach(epoch: record.epoch, closure: link.closure ?? LinkClosure(code: nil, reason: "connection lost", byPeer: true), now: Date())
    }

    private func lookup(_ agentId: String) async -> AgentRecord? {
        do {
            return try await store.agent(id: agentId)
        } catch {
            logger.error("agent lookup failed: \(error)")
            return nil
        }
    }

    private func refuse(_ link: WebSocketLink, _ code: CloseCode, _ reason: String) {
        logger.notice("refused agent connection from \(link.remoteDescription): \(reason)")
        link.close(code, reason: reason)
    }
}
