import Foundation

/// Writes files that hold secrets (identity keys): mode 0600, fsynced, replaced atomically by
/// rename, so a crash leaves either the old file or the new one, never half of one.
public enum PrivateFile {
    public static func save(_ data: Data, to path: String) throws {
        let temp = path + ".tmp"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw AgentError.badState("cannot write \(temp): \(String(cString: strerror(errno)))") }
        var written = 0
        while written < data.count {
            let n = data.withUnsafeBytes { write(fd, $0.baseAddress.map { $0 + written }, $0.count - written) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            written += n
        }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == data.count, synced, rename(temp, path) == 0 else {
            unlink(temp)
            throw AgentError.badState("cannot save \(path): \(String(cString: strerror(errno)))")
        }
    }
}
