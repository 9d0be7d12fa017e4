import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Errors from the journal's file operations, with the path and the OS's reason.
public struct JournalError: Error, CustomStringConvertible, Sendable {
    public let description: String
}

/// The append-only journal file: whole lines, each fsynced before the call returns.
///
/// Plain POSIX calls rather than FileHandle, because durability hinges on exactly when fsync runs.
final class JournalFile {
    private let fd: Int32
    let path: String

    /// Opens (creating 0600) for appending.
    init(path: String) throws(JournalError) {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw JournalError(description: "cannot open journal \(path): \(OSErrorText.current())") }
        self.fd = fd
        self.path = path
    }

    deinit { close(fd) }

    /// Appends one line and fsyncs it.
    func append(_ line: Data) throws(JournalError) {
        try Self.writeAll(fd: fd, line, path: path)
        guard fsync(fd) == 0 else { throw JournalError(description: "cannot fsync journal \(path): \(OSErrorText.current())") }
    }

    /// Replaces `path` with `contents` atomically: write a temp file, fsync, rename over, fsync the directory.
    /// A crash at any point leaves either the old file or the new one, never a mix.
    static func replace(path: String, directory: String, contents: Data) throws(JournalError) {
        let temp = path + ".compact"
        // A leftover from a crash is removed, never reused: O_EXCL|O_NOFOLLOW refuses a file or
        // symlink someone else put there.
        unlink(temp)
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw JournalError(description: "cannot create \(temp): \(OSErrorText.current())") }
        do throws(JournalError) {
            try writeAll(fd: fd, contents, path: temp)
            guard fsync(fd) == 0 else { throw JournalError(description: "cannot fsync \(temp): \(OSErrorText.current())") }
        } catch {
            close(fd)
            unlink(temp)
            throw error
        }
        close(fd)
        guard rename(temp, path) == 0 else {
            unlink(temp)
            throw JournalError(description: "cannot rename \(temp) to \(path): \(OSErrorText.current())")
        }
        try syncDirectory(directory)
    }

    /// Makes a create or rename in `directory` itself durable.
    static func syncDirectory(_ directory: String) throws(JournalError) {
        let dfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dfd >= 0 else { throw JournalError(description: "cannot open \(directory): \(OSErrorText.current())") }
        defer { close(dfd) }
        guard fsync(dfd) == 0 else { throw JournalError(description: "cannot fsync \(directory): \(OSErrorText.current())") }
    }

    private static func writeAll(fd: Int32, _ data: Data, path: String) throws(JournalError) {
        let failure: Int32? = data.withUnsafeBytes { raw in
            var written = 0
            while written < raw.count {
                let n = write(fd, raw.baseAddress.map { $0 + written }, raw.count - written)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                written += n
            }
            return nil
        }
        if let failure { throw JournalError(description: "cannot write \(path): \(OSErrorText.describe(failure))") }
    }
}
