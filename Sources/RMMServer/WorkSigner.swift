import Crypto
import Foundation
import RMMProtocol

/// Signs commands and configs for one agent with the server's key (see `WorkSigning`).
struct WorkSigner: Sendable {
    /// Raw private key (swift-crypto's key type is not Sendable; rebuilding it is cheap).
    private let rawKey: Data
    /// The public key agents pin, base64.
    let publicKey: String

    init(key: Curve25519.Signing.PrivateKey) {
        rawKey = key.rawRepresentation
        publicKey = key.publicKey.rawRepresentation.base64EncodedString()
    }

    private var key: Curve25519.Signing.PrivateKey? { try? Curve25519.Signing.PrivateKey(rawRepresentation: rawKey) }

    func signed(_ spec: CommandSpec, for agentId: String) -> CommandSpec {
        var spec = spec
        if let key { spec.signature = try? WorkSigning.sign(WorkSigning.payload(agentId: agentId, command: spec), with: key) }
        return spec
    }

    func signature(of config: AgentConfig, for agentId: String) -> String? {
        guard let key, let payload = try? WorkSigning.payload(agentId: agentId, config: config) else { return nil }
        return try? WorkSigning.sign(payload, with: key)
    }
}
