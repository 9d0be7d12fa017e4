import Crypto
import Foundation
import RMMStore

/// The server's data directory: database, admin token and the `server.json` ready file.
struct DataDirectory {
    let path: String

    init(path: String) throws {
        self.path = path
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir) {
            guard isDir.boolValue else { throw RequestError(500, "data directory \(path) exists and is not a directory") }
        } else {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
    }

    var databasePath: String { path + "/gururmm.sqlite" }
    var adminTokenPath: String { path + "/admin.token" }
    var readyPath: String { path + "/server.json" }
    var signingKeyPath: String { path + "/signing.key" }

    /// The server's Ed25519 key for signing work, created (0600) on first start.
    func ensureSigningKey() throws -> Curve25519.Signing.PrivateKey {
        if let text = try? String(contentsOfFile: signingKeyPath, encoding: .utf8) {
            guard let raw = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)),
                  let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw) else {
                throw RequestError(500, "\(signingKeyPath) is unreadable; restore it from backup (agents pinned its public key)")
            }
            return key
        }
        let key = Curve25519.Signing.PrivateKey()
        try SecretFile.write(key.rawRepresentation.base64EncodedString() + "\n", to: signingKeyPath)
        return key
    }

    /// Creates the admin API token on first start (file mode 0600); on later starts makes sure the
    /// token in the file is known to the store. Returns whether it was created, and its path.
    func ensureAdminToken(store: any Store) async throws -> (Bool, String) {
        if let existing = try? String(contentsOfFile: adminTokenPath, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines), !existing.isEmpty {
            let hash = CommandService.sha256Hex(existing)
            if try await store.apiToken(hash: hash) == nil {
                _ = try await store.createAPIToken(name: "admin", role: "admin", hash: hash, now: Date())
            }
            return (false, adminTokenPath)
        }
        let secret = "grt_" + CommandService.newId(prefix: "") + CommandService.newId(prefix: "") + CommandService.newId(prefix: "")
        _ = try await store.createAPIToken(name: "admin", role: "admin", hash: CommandService.sha256Hex(secret), now: Date())
        try SecretFile.write(secret + "\n", to: adminTokenPath)
        return (true, adminTokenPath)
    }

    func writeReady(_ ready: ServerReady) throws {
        let data = try APICoding.encoder().encode(ready)
        let temp = readyPath + ".tmp"
        try data.write(to: URL(fileURLWithPath: temp))
        _ = rename(temp, readyPath)
    }
}

/// Writes files that hold secrets: created 0600 before any byte is written, replaced atomically.
public enum SecretFile {
    public static func write(_ text: String, to path: String) throws {
        let temp = path + ".tmp-\(getpid())"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw RequestError(500, "cannot create \(temp): \(String(cString: strerror(errno)))") }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
        fsync(fd)
        close(fd)
        guard written == bytes.count else { throw RequestError(500, "short write to \(temp)") }
        guard rename(temp, path) == 0 else { throw RequestError(500, "cannot move \(temp) to \(path): \(String(cString: strerror(errno)))") }
    }
}
