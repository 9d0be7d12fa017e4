import Crypto
import Foundation
import RMMProtocol
import Synchronization

/// Signs commands and configs for one agent with the server's key (see `WorkSigning`).
struct WorkSigner: Sendable {
    /// The private key, built once per stripe. swift-crypto's key type is not Sendable, so a
    /// signature holds one stripe's lock (~50 µs); one stripe per core keeps signing parallel.
    /// Rebuilding the key from its raw bytes for each signature derived the public key each
    /// time: half the signing cost, a few percent of the server's CPU in a fan-out.
    private let stripes: [KeySlot]
    /// The public key agents pin, base64.
    let publicKey: String

    init(key: sending Curve25519.Signing.PrivateKey) {
        publicKey = key.publicKey.rawRepresentation.base64EncodedString()
        let raw = key.rawRepresentation
        var stripes = [KeySlot(key)]
        for _ in 1..<min(max(ProcessInfo.processInfo.activeProcessorCount, 1), 64) {
            if let slot = KeySlot(raw: raw) { stripes.append(slot) }
        }
        self.stripes = stripes
    }

    /// The command signed for `agentId` at `position` in the server's stream to it.
    func signed(_ spec: CommandSpec, for agentId: String, at position: StreamPosition) -> CommandSpec {
        var spec = spec
        spec.signature = WorkSigning.payload(agentId: agentId, position: position, command: spec).flatMap { sign($0, for: agentId) }
        return spec
    }

    /// The cancel signed for `agentId` at `position`.
    func signed(_ cancel: Cancel, for agentId: String, at position: StreamPosition) -> Cancel {
        var cancel = cancel
        cancel.signature = sign(WorkSigning.payload(agentId: agentId, position: position, cancel: cancel), for: agentId)
        return cancel
    }

    func signature(of config: AgentConfig, for agentId: String, at position: StreamPosition) -> String? {
        guard let payload = try? WorkSigning.payload(agentId: agentId, position: position, config: config) else { return nil }
        return sign(payload, for: agentId)
    }

    private func sign(_ payload: Data, for agentId: String) -> String? {
        stripes[Int(UInt(bitPattern: agentId.hashValue) % UInt(stripes.count))].sign(payload)
    }

    /// One copy of the private key behind a lock.
    private final class KeySlot: Sendable {
        private let key: Mutex<Curve25519.Signing.PrivateKey>

        init(_ key: sending Curve25519.Signing.PrivateKey) { self.key = Mutex(key) }

        /// Another copy of a key from its raw bytes.
        convenience init?(raw: Data) {
            guard let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw) else { return nil }
            self.init(key)
        }

        func sign(_ payload: Data) -> String? {
            key.withLock { try? WorkSigning.sign(payload, with: $0) }
        }
    }
}
