import Foundation
import Synchronization

/// Creates a new, empty, uniquely named directory under the system temporary directory and
/// returns its path. It is removed, with everything in it, when the test process exits normally,
/// unless `GURURMM_KEEP_TEST_DIRS=1` is set (to read a run's logs and databases afterwards):
/// an end-to-end server's directory holds a preallocated WAL of hundreds of MiB, and a suite
/// creates hundreds of them.
public func freeTemporaryDirectory(prefix: String) throws -> String {
    // A slash in the prefix would make mkdtemp look for a parent that does not exist.
    let safePrefix = prefix.replacingOccurrences(of: "/", with: "-")
    let base = FileManager.default.temporaryDirectory.path
    var template = Array("\(base)/\(safePrefix).XXXXXX".utf8CString)
    let created = template.withUnsafeMutableBufferPointer { buffer -> Bool in
        guard let start = buffer.baseAddress else { return false }
        return mkdtemp(start) != nil
    }
    guard created else {
        throw TemporaryDirectoryError(prefix: prefix, errno: errno)
    }
    let path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    TemporaryDirectories.removeAtExit(path)
    return path
}

/// The directories `freeTemporaryDirectory` made in this process, removed when it exits.
private enum TemporaryDirectories {
    static let paths = Mutex<[String]?>(nil)

    static func removeAtExit(_ path: String) {
        guard ProcessInfo.processInfo.environment["GURURMM_KEEP_TEST_DIRS"] != "1" else { return }
        let first = paths.withLock { paths in
            defer { paths = (paths ?? []) + [path] }
            return paths == nil
        }
        if first { atexit { TemporaryDirectories.removeAll() } }
    }

    static func removeAll() {
        for path in paths.withLock({ $0 ?? [] }) { try? FileManager.default.removeItem(atPath: path) }
    }
}

/// Thrown when a temporary directory cannot be created.
public struct TemporaryDirectoryError: Error, CustomStringConvertible, Sendable {
    /// The prefix asked for.
    public let prefix: String
    /// The errno that mkdtemp left.
    public let errno: Int32

    public var description: String {
        "cannot create a temporary directory with prefix \(prefix): \(String(cString: strerror(errno)))"
    }
}
