import Crypto
import Foundation
import RMMAPI
import RMMStore
import RMMTransport

/// The server's data directory: database, keys, admin token and the `server.json` ready file.
/// Private: 0700, owned by the server's user and writable by no one else, or the server refuses it.
struct DataDirectory {
    let path: String

    init(path: String) throws {
        self.path = path
        try PrivateStorage.prepareDirectory(path, what: "data directory")
    }

    var databasePath: String { path + "/gururmm.sqlite" }
    var adminTokenPath: String { path + "/admin.token" }
    var readyPath: String { path + "/server.json" }
    var signingKeyPath: String { path + "/signing.key" }

    /// Makes the database file (created empty if new) and its -wal and -shm files 0600 before
    /// SQLite opens it: SQLite gives the files it creates the database file's mode.
    func prepareDatabaseFiles() throws {
        try PrivateStorage.ensurePrivateFile(databasePath)
        try PrivateStorage.restrict(databasePath + "-wal")
        try PrivateStorage.restrict(databasePath + "-shm")
    }

    /// The server's Ed25519 key for signing work, created (0600) on first start. An existing key
    /// that cannot be read or parsed stops the start: a new key would make every agent refuse the server.
    func ensureSigningKey() throws -> Curve25519.Signing.PrivateKey {
        let keep = "The server never replaces an existing signing key: every enrolled agent pinned its public key and would refuse work signed by another."
        let data: Data?
        do {
            data = try PrivateStorage.readIfPresent(signingKeyPath)
        } catch {
            throw StartupError("\(error). Fix its permissions (the server's user must be able to read it) or restore it from a backup. \(keep)")
        }
        if let data {
            let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard let raw = Data(base64Encoded: text), let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw) else {
                throw StartupError("\(signingKeyPath) does not hold a signing key (base64 of 32 bytes); restore it from a backup. \(keep)")
            }
            return key
        }
        let key = Curve25519.Signing.PrivateKey()
        try SecretFile.write(key.rawRepresentation.base64EncodedString() + "\n", to: signingKeyPath)
        return key
    }

    /// What start-up did about the bootstrap admin token in `admin.token`.
    enum AdminTokenOutcome: Equatable {
        /// First start: a new token was made and written to the file.
        case created
        /// The file's token is live (and was added to the store if the store did not know it).
        case existing
        /// The file's token was revoked; the server starts without it and does not replace it.
        case revoked
        /// No file, on a store shared with other nodes that already holds a live admin token: the
        /// cluster has its admin, so this node made none (it starts without a file).
        case heldByCluster
    }

    /// Creates the admin API token on first start (file mode 0600); on later starts makes sure the
    /// token in the file is known to the store, unless an operator revoked it. On a store `shared`
    /// with other nodes, a node without the file makes a token only if the cluster has no live
    /// admin token: one cluster, one bootstrap admin (a joining node copies the first node's file,
    /// or an admin mints more through the API), rather than one secret per node's disk.
    func ensureAdminToken(store: any TokenStore, shared: Bool = false) async throws -> AdminTokenOutcome {
        let existing: String
        do {
            existing = String(decoding: try PrivateStorage.readIfPresent(adminTokenPath) ?? Data(), as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
        } catch {
            throw StartupError("\(error). Fix its permissions, or move it away to have a new admin token made.")
        }
        if !existing.isEmpty {
            let hash = CommandService.sha256Hex(existing)
            if try await store.apiToken(hash: hash) != nil { return .existing }
            do {
                _ = try await store.createAPIToken(name: "admin", role: "admin", hash: hash, now: Date(), audit: Self.audit("admin token from \(adminTokenPath) restored"))
                return .existing
            } catch StoreError.conflict {
                // Another node sharing the store and this token file stored it meanwhile: live.
                if try await store.apiToken(hash: hash) != nil { return .existing }
                // The hash is stored but not live: an operator revoked this token. Bringing it back
                // would undo that, so the server starts without it.
                return .revoked
            }
        }
        if shared, try await store.apiTokens().contains(where: { $0.role == "admin" && $0.revokedAt == nil }) { return .heldByCluster }
        let secret = "grt_" + CommandService.newId(prefix: "") + CommandService.newId(prefix: "") + CommandService.newId(prefix: "")
        _ = try await store.createAPIToken(name: "admin", role: "admin", hash: CommandService.sha256Hex(secret), now: Date(),
                                           audit: Self.audit("bootstrap admin token written to \(adminTokenPath)"))
        try SecretFile.write(secret + "\n", to: adminTokenPath)
        return .created
    }

    /// The audit entry for an admin token the server itself creates at start-up.
    private static func audit(_ detail: String) -> @Sendable (APITokenRecord) -> AuditEntry {
        { record in
            AuditEntry(at: Date(), actor: "server", role: "server", action: "tokens.create", targets: [record.id], detail: detail, remote: "local")
        }
    }

    func writeReady(_ ready: ServerReady) throws {
        try PrivateStorage.write(try APICoding.encoder().encode(ready), to: readyPath)
    }
}

/// Why the server cannot start, with what to do about it.
struct StartupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Writes files that hold secrets: see `PrivateStorage.write` (0600, O_EXCL|O_NOFOLLOW, atomic).
public enum SecretFile {
    public static func write(_ text: String, to path: String) throws {
        try PrivateStorage.write(Data(text.utf8), to: path)
    }
}
