import Foundation
import RMMTransport

/// `gururmm cluster export-keys`: the files a node joining a cluster copies from the first node.
public enum ClusterKeys {
    /// The key files of a data directory, by name; the signing key is required, the others are
    /// copied when present (no TLS files with --plain or --tls-cert, no admin token if it was moved away).
    static let files: [(name: String, required: Bool)] = [
        ("signing.key", true), ("tls.key", false), ("tls.crt", false), ("admin.token", false),
    ]

    /// Copies the key files of `dataDirectory` into `out` (made 0700 if new; each file 0600, never
    /// over an existing one); returns the names copied.
    public static func export(dataDirectory: String, to out: String) throws -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dataDirectory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw StartupError("--data-dir: \(dataDirectory) is not a directory")
        }
        try PrivateStorage.prepareDirectory(out, what: "key export directory")
        var copied: [String] = []
        for file in files {
            let source = dataDirectory + "/" + file.name
            guard let data = try PrivateStorage.readIfPresent(source) else {
                if file.required { throw StartupError("\(source) does not exist: not a started server's data directory") }
                continue
            }
            let target = out + "/" + file.name
            guard !FileManager.default.fileExists(atPath: target) else {
                throw StartupError("\(target) exists already; export into an empty directory")
            }
            try PrivateStorage.write(data, to: target)
            copied.append(file.name)
        }
        return copied
    }
}
