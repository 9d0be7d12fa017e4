import Foundation
import Logging
import RMMProtocol
import RMMTransport

/// One connection's life on the agent side: challenge → hello (or enroll) → welcome → message loop.
/// Returns how it ended; the runtime decides whether and when to reconnect.
struct AgentConnection {
    let options: AgentOptions
    let core: AgentCore
    let logger: Logger

    enum Outcome {
        /// The session ran (welcome received) and then ended.
        case ended(LinkClosure, welcomed: Bool)
        /// The server refused us for good (bad credentials, revoked).
        case refused(LinkClosure)
    }

    func run(identity: inout AgentIdentity) async throws -> Outcome {
        let link = try await WebSocketConnector.connect(to: options.endpoint)
        var events = link.events.makeAsyncIterator()
        // Handshake deadline: a server (or proxy) that never answers must not hold us forever.
        let timer = Task {
            try await Task.sleep(for: .seconds(15))
            link.close(.handshakeTimeout, reason: "no challenge/welcome from server within 15 s")
        }
        defer { timer.cancel() }

        guard case .message(let first)? = await events.next(), case .challenge(let challenge) = first.message else {
            return closed(link, welcomed: false)
        }
        link.markHandled()
        let facts = await Self.facts(options: options, identity: identity)
        let (stream, received) = await core.helloState()
        let key = try identity.signingKey()
        if let agentId = identity.agentId {
            let signature = try AgentProof.sign(nonce: challenge.nonce, agentId: agentId, key: key)
            link.send(Envelope(.hello(Hello(agentId: agentId, signature: signature, facts: facts, stream: stream, received: received))))
        } else {
            guard let token = options.enrollToken else {
                link.close(.normal, reason: "not enrolled")
                throw AgentError.notEnrolled
            }
            let publicKey = identity.publicKeyBase64
            let signature = try AgentProof.sign(nonce: challenge.nonce, agentId: publicKey, key: key)
            link.send(Envelope(.enroll(Enroll(token: token, publicKey: publicKey, signature: signature, facts: facts, stream: stream))))
        }

        guard case .message(let reply)? = await events.next(), case .welcome(let welcome) = reply.message else {
            return closed(link, welcomed: false)
        }
        link.markHandled()
        timer.cancel()
        if identity.agentId != welcome.agentId {
            identity.agentId = welcome.agentId
            identity.name = facts.name
            try identity.save(stateDirectory: options.stateDirectory)
            logger.info("enrolled as \(welcome.agentId)")
        }
        await core.attach(link, welcome: welcome, now: Date())

        // Timers run beside the reader; the reader only hands messages to the core.
        let ticker = Task {
            while !Task.isCancelled {
                guard await core.tick(now: Date()) else { return }
                try? await Task.sleep(for: .milliseconds(250))
            }
        }
        defer { ticker.cancel() }
        while let event = await events.next() {
            switch event {
            case .message(let envelope):
                await core.handle(envelope, from: link)
                link.markHandled()
            case .closed:
                await core.detach(link)
                return closed(link, welcomed: true)
            }
        }
        await core.detach(link)
        return closed(link, welcomed: true)
    }

    private func closed(_ link: WebSocketLink, welcomed: Bool) -> Outcome {
        let closure = link.closure ?? LinkClosure(code: nil, reason: "connection ended", byPeer: true)
        link.abort()
        if let code = closure.code, closure.byPeer, let known = CloseCode(rawValue: code), known.isPermanent {
            return .refused(closure)
        }
        return .ended(closure, welcomed: welcomed)
    }

    static func facts(options: AgentOptions, identity: AgentIdentity) async -> AgentFacts {
        let host = ProcessInfo.processInfo.hostName
        let name = options.name ?? identity.name ?? host
        return AgentFacts(name: name, hostname: host, os: currentOSDescription(), version: options.version)
    }
}
