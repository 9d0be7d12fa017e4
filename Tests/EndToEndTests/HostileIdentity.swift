import Crypto
import Foundation
import RMMProtocol
import RMMTestSupport

/// An agent identity a test enrolled through the protocol itself, that authenticates raw
/// connections as the real agent would, and then sends whatever the test wants.
struct HostileIdentity: Sendable {
    /// The Ed25519 private key's raw bytes (the key type itself is not Sendable).
    let rawKey: Data
    let agentId: String

    /// Enrolls a new identity named `name` with a fresh enrollment token.
    static func enroll(_ server: E2EServer, name: String, from source: String = "127.0.0.1") async throws -> HostileIdentity {
        let key = Curve25519.Signing.PrivateKey()
        let publicKey = key.publicKey.rawRepresentation.base64EncodedString()
        let token = try await server.api.enrollToken(uses: 1)
        let client = try await RawAgentPortClient.connect(port: server.agentPort, from: source)
        defer { Task { await client.tcp.close() } }
        guard let nonce = try await client.upgrade()?.nonce else { throw E2EError("no challenge for the enrollment of \(name)") }
        let facts = AgentFacts(name: name, hostname: "hostile", os: "none", version: "0")
        let signature = try AgentProof.sign(nonce: nonce, agentId: publicKey, key: key)
        try await client.send(Envelope(.enroll(Enroll(token: token, publicKey: publicKey, signature: signature, facts: facts, stream: "s-\(name)"))))
        guard case .welcome(let welcome)? = try await client.message(at: 1)?.message else {
            throw E2EError("\(name) was not enrolled: \(client.reply.close?.reason ?? "no answer")")
        }
        return HostileIdentity(rawKey: key.rawRepresentation, agentId: welcome.agentId)
    }

    /// A new connection authenticated as this identity (a hello on `stream`), once welcomed.
    func connect(_ server: E2EServer, from source: String = "127.0.0.1", stream: String = "s-hostile",
                 received: StreamPosition? = nil) async throws -> (client: RawAgentPortClient, welcome: Welcome) {
        try await connect(agentPort: server.agentPort, from: source, stream: stream, received: received)
    }

    /// The same, to the agent port's number.
    func connect(agentPort: Int, from source: String = "127.0.0.1", stream: String = "s-hostile",
                 received: StreamPosition? = nil) async throws -> (client: RawAgentPortClient, welcome: Welcome) {
        let key = try Curve25519.Signing.PrivateKey(rawRepresentation: rawKey)
        let client = try await RawAgentPortClient.connect(port: agentPort, from: source)
        guard let nonce = try await client.upgrade()?.nonce else { throw E2EError("no challenge for \(agentId)") }
        let hello = Hello(agentId: agentId, signature: try AgentProof.sign(nonce: nonce, agentId: agentId, key: key),
                          facts: malloryFacts, stream: stream, received: received)
        try await client.send(Envelope(.hello(hello)))
        guard case .welcome(let welcome)? = try await client.message(at: 1)?.message else {
            throw E2EError("\(agentId) was not welcomed: \(client.reply.close?.reason ?? "no answer")")
        }
        return (client, welcome)
    }
}
