import Crypto
import Foundation
import RMMProtocol
import Synchronization

/// Signs commands and configs for one agent with the server's key (see `WorkSigning`).
struct WorkSigner: Sendable {
    /// The private key, built once. swift-crypto's key type is not Sendable, so sessions on any
    /// thread share it through a lock (a signature holds it for ~50 µs). Rebuilding the key from
    /// its raw bytes for each signature derived the public key each time: half the signing cost,
    /// a few percent of the server's CPU in a fan-out.
    private let key: SharedKey
    /// The public key agents pin, base64.
    let publicKey: String

    init(key: sending Curve25519.Signing.PrivateKey) {
        publicKey = key.publicKey.rawRepresentation.base64EncodedString()
        self.key = SharedKey(key)
    }

    func signed(_ spec: CommandSpec, for agentId: String) -> CommandSpec {
        var spec = spec
        let payload = WorkSigning.payload(agentId: agentId, command: spec)
        spec.signature = key.sign(payload)
        return spec
    }

    func signature(of config: AgentConfig, for agentId: String) -> String? {
        guard let payload = try? WorkSigning.payload(agentId: agentId, config: config) else { return nil }
        return key.sign(payload)
    }

    /// One private key behind a lock.
    private final class SharedKey: Sendable {
        private let key: Mutex<Curve25519.Signing.PrivateKey>

        init(_ key: sending Curve25519.Signing.PrivateKey) { self.key = Mutex(key) }

        func sign(_ payload: Data) -> String? {
            key.withLock { try? WorkSigning.sign(payload, with: $0) }
        }
    }
}
