import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a private file or directory could not be used, naming the path and what to do.
public struct PrivateStorageError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Files and directories that hold secrets, for both the server and the agent: directories are
/// 0700 and must not be writable by anyone else, files are created 0600 with O_EXCL|O_NOFOLLOW
/// (never through a symlink or over a file someone else planted) and replaced atomically.
public enum PrivateStorage {
    /// Why a directory with this mode and owner may not hold this process's secrets, or nil if it may.
    /// Another user who can write to it could swap the files in it; another owner could read them.
    public static func directoryProblem(path: String, mode: UInt32, owner: UInt32, user: UInt32) -> String? {
        if owner != user {
            return "\(path) is owned by user \(owner), not by this process's user \(user); chown it to the user running gururmm, or use another directory"
        }
        if mode & 0o022 != 0 {
            let octal = String(mode & 0o7777, radix: 8)
            let who = mode & 0o022 == 0o022 ? "its group and other users" : mode & 0o020 != 0 ? "its group" : "other users"
            return "\(path) is writable by \(who) (mode \(octal)), so they could replace the keys in it; run `chmod 700 \(path)`"
        }
        return nil
    }

    /// Creates `path` (0700, and missing parents) if it does not exist, then refuses it if it is not
    /// a directory or `directoryProblem` finds one. `what` names it in errors ("data directory").
    public static func prepareDirectory(_ path: String, what: String) throws(PrivateStorageError) {
        var info = stat()
        if stat(path, &info) != 0 {
            guard errno == ENOENT else { throw PrivateStorageError("cannot use \(what) \(path): \(errnoText())") }
            do {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw PrivateStorageError("cannot create \(what) \(path): \(error.localizedDescription)")
            }
            // The umask can only remove bits, but make the mode exact anyway.
            chmod(path, 0o700)
            guard stat(path, &info) == 0 else { throw PrivateStorageError("cannot use \(what) \(path): \(errnoText())") }
        }
        guard info.st_mode & S_IFMT == S_IFDIR else { throw PrivateStorageError("\(what) \(path) exists and is not a directory") }
        if let problem = directoryProblem(path: path, mode: UInt32(info.st_mode), owner: UInt32(info.st_uid), user: UInt32(geteuid())) {
            throw PrivateStorageError("refusing to use \(what): \(problem)")
        }
    }

    /// Largest secret file read: keys and tokens are a few kilobytes; a bigger file is not one of ours.
    public static let maxReadBytes = 1 << 20

    /// The contents of `path`, or nil only if it does not exist. Anything else that stops it being
    /// read (permissions, a directory, too big) is an error naming the file: a caller that treated
    /// such a file as missing would replace a key every peer has pinned.
    public static func readIfPresent(_ path: String) throws(PrivateStorageError) -> Data? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            let error = errno
            var link = stat()
            // A dangling symlink also gives ENOENT: a key moved to a volume that is not mounted must
            // not count as absent, or a new one would be made and every pin broken.
            if error == ENOENT, lstat(path, &link) != 0 { return nil }
            let why = error == ENOENT ? "it is a symbolic link to a file that does not exist" : String(cString: strerror(error))
            throw PrivateStorageError("cannot read \(path): \(why)")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw PrivateStorageError("cannot read \(path): \(errnoText())") }
        guard info.st_mode & S_IFMT == S_IFREG else { throw PrivateStorageError("cannot read \(path): it is not a regular file") }
        guard info.st_size <= maxReadBytes else { throw PrivateStorageError("cannot read \(path): it is \(info.st_size) bytes, more than a key or token could be") }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size) + 1)
        var total = 0
        while total < bytes.count {
            let n = bytes.withUnsafeMutableBytes { raw in read(fd, raw.baseAddress.map { $0 + total }, raw.count - total) }
            if n < 0 {
                if errno == EINTR { continue }
                throw PrivateStorageError("cannot read \(path): \(errnoText())")
            }
            if n == 0 { break }
            total += n
        }
        guard total <= maxReadBytes else { throw PrivateStorageError("cannot read \(path): it grew past \(maxReadBytes) bytes while being read") }
        return Data(bytes[0..<total])
    }

    /// Replaces `path` with `data` atomically: a temporary file beside it is created with
    /// O_CREAT|O_EXCL|O_NOFOLLOW and `mode` (a leftover one from a crash is removed first, never
    /// opened), written, fsynced and renamed over `path`; then the directory is fsynced.
    public static func write(_ data: Data, to path: String, mode: mode_t = 0o600) throws(PrivateStorageError) {
        let temp = path + ".tmp"
        // unlink removes a symlink itself, not what it points to.
        unlink(temp)
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else { throw PrivateStorageError("cannot create \(temp): \(errnoText())") }
        var failure: String?
        if fchmod(fd, mode) != 0 { failure = "cannot set the mode of \(temp): \(errnoText())" }
        var written = 0
        while failure == nil && written < data.count {
            let n = data.withUnsafeBytes { raw in Foundation.write(fd, raw.baseAddress.map { $0 + written }, raw.count - written) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { failure = "cannot write \(temp): \(errnoText())" } else { written += n }
        }
        if failure == nil && fsync(fd) != 0 { failure = "cannot fsync \(temp): \(errnoText())" }
        close(fd)
        if failure == nil && rename(temp, path) != 0 { failure = "cannot move \(temp) to \(path): \(errnoText())" }
        if let failure {
            unlink(temp)
            throw PrivateStorageError(failure)
        }
        syncDirectory(of: path)
    }

    /// Creates an empty `path` with O_CREAT|O_EXCL|O_NOFOLLOW and mode 0600 if it does not exist;
    /// if it does, takes group and other bits off it. For files another library opens later
    /// (SQLite gives its -wal and -shm files the database file's mode).
    public static func ensurePrivateFile(_ path: String) throws(PrivateStorageError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        if fd >= 0 {
            fchmod(fd, 0o600)
            close(fd)
            return
        }
        guard errno == EEXIST else { throw PrivateStorageError("cannot create \(path): \(errnoText())") }
        try restrict(path)
    }

    /// Takes group and other bits off `path` if it exists (not following a symlink).
    public static func restrict(_ path: String) throws(PrivateStorageError) {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            if errno == ENOENT { return }
            throw PrivateStorageError("cannot check \(path): \(errnoText())")
        }
        guard info.st_mode & S_IFMT == S_IFREG else { throw PrivateStorageError("\(path) is not a regular file; move it away") }
        if info.st_mode & 0o077 != 0, chmod(path, mode_t(info.st_mode & 0o700)) != 0 {
            throw PrivateStorageError("cannot make \(path) private (chmod): \(errnoText())")
        }
    }

    private static func syncDirectory(of path: String) {
        let directory = (path as NSString).deletingLastPathComponent
        let dfd = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dfd >= 0 else { return }
        fsync(dfd)
        close(dfd)
    }

    private static func errnoText() -> String { String(cString: strerror(errno)) }
}
