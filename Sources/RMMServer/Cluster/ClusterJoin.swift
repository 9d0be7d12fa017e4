import Foundation
import RMMProtocol
import RMMStore

/// A node's entry into a shared store: its keys must be the cluster's, and its name free.
enum ClusterJoin {
    /// The files a joining node copies from the first node's data directory.
    static let keyFiles = "signing.key, tls.key, tls.crt and admin.token"

    /// Records or checks the cluster's keys; a node with other keys stops the start, naming the
    /// key that differs and how to join.
    static func checkIdentity(_ identity: ClusterIdentity, node: String, store: any ClusterStore, dataDirectory: String) async throws {
        guard case .differs(let stored, let firstNode, let since) = try await store.claimIdentity(identity, node: node) else { return }
        let join = "To join this cluster, stop this node and copy \(keyFiles) from the first node's data directory into \(dataDirectory) (`gururmm cluster export-keys --data-dir FIRST_NODE_DATA_DIR --out DIR` collects them)"
        let recorded = "recorded by node \(firstNode) at \(format(since))"
        if stored.signingKey != identity.signingKey {
            throw StartupError("this node's signing key (\(dataDirectory)/signing.key, public key \(identity.signingKey)) is not the cluster's (public key \(stored.signingKey), \(recorded)): every agent would refuse work this node signs. \(join)")
        }
        throw StartupError("this node's TLS trust (\(identity.tlsTrust)) is not the cluster's (\(stored.tlsTrust), \(recorded)): agents enrolled by the cluster would refuse this node's certificate. \(join), and start it with the same --plain, --tls-cert/--tls-key and --enroll-trust")
    }

    /// Takes the lease on the node's name; a name held by a running node stops the start.
    static func acquire(_ claim: NodeClaim, store: any ClusterStore) async throws {
        if case .held(let since, _) = try await store.acquireNodeLease(claim) {
            throw StartupError("node name \(claim.name) is held by a running node since \(format(since)); a copied data directory? give this node its own --node-name")
        }
    }

    private static func format(_ date: Date) -> String {
        InternetDate.text(date).map { String(decoding: $0, as: UTF8.self) } ?? "\(date)"
    }

    /// The default node name: the host's name.
    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "node" }
        let name = String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "node" : name
    }

    /// Why `name` cannot be a node name, or nil.
    static func problem(nodeName name: String) -> String? {
        guard !name.isEmpty, name.utf8.count <= 64 else { return "--node-name must be 1-64 characters" }
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_")
        guard name.allSatisfy(allowed.contains) else { return "--node-name may hold only letters, digits, '.', '-' and '_' (got '\(name)')" }
        return nil
    }
}
