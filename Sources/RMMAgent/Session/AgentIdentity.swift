import Crypto
import Foundation
import RMMTransport
import RMMProtocol

/// The agent's durable identity in its state directory: its Ed25519 key and, once enrolled, its id.
/// Written 0600; the private key never leaves this file.
public struct AgentIdentity: Codable, Sendable {
    public var agentId: String?
    /// Raw private key, base64.
    var privateKey: String
    public var name: String?
    /// The server's signing key, pinned at enrollment; work not signed with it is refused.
    public var serverKey: String?
    /// How to trust the server's TLS (its key pin, or `system`), pinned at enrollment.
    public var tlsTrust: String?

    /// Path of the identity file inside a state directory.
    public static func path(in stateDirectory: String) -> String { stateDirectory + "/identity.json" }

    /// Loads the identity, or creates a new key (not yet enrolled) and saves it first, so a crash
    /// after enrolling can re-enroll with the same key and get the same agent back.
    public static func loadOrCreate(stateDirectory: String) throws -> AgentIdentity {
        do {
            try PrivateStorage.prepareDirectory(stateDirectory, what: "state directory")
        } catch {
            throw AgentError.badState(error.description)
        }
        let path = Self.path(in: stateDirectory)
        let existing: Data?
        do {
            existing = try PrivateStorage.readIfPresent(path)
        } catch {
            throw AgentError.badState("\(error); fix its permissions (never delete it: it holds this agent's key)")
        }
        if let data = existing {
            do {
                return try JSONDecoder().decode(AgentIdentity.self, from: data)
            } catch {
                throw AgentError.badState("identity file \(path) is unreadable (\(error)); move it away to enroll again")
            }
        }
        let identity = AgentIdentity(agentId: nil, privateKey: Curve25519.Signing.PrivateKey().rawRepresentation.base64EncodedString(), name: nil, serverKey: nil, tlsTrust: nil)
        try identity.save(stateDirectory: stateDirectory)
        return identity
    }

    public func save(stateDirectory: String) throws {
        try PrivateFile.save(try JSONEncoder().encode(self), to: Self.path(in: stateDirectory))
    }

    func signingKey() throws -> Curve25519.Signing.PrivateKey {
        guard let raw = Data(base64Encoded: privateKey) else { throw AgentError.badState("identity key is not base64") }
        return try Curve25519.Signing.PrivateKey(rawRepresentation: raw)
    }
}

/// Agent failures that stop the agent, with what to do about them.
public enum AgentError: Error, Sendable, CustomStringConvertible {
    case badState(String)
    case notEnrolled
    case refused(code: UInt16, reason: String)

    public var description: String {
        switch self {
        case .badState(let why): return why
        case .notEnrolled: return "this agent is not enrolled yet: run it once with --enroll-token (create one with `gururmm enroll-token create`)"
        case .refused(let code, let reason): return "server refused this agent (close code \(code)): \(LogSafe.text(reason))"
        }
    }
}
