import Foundation

/// Creates a new, empty, uniquely named directory under the system temporary directory and
/// returns its path. Tests own what they create; nothing is removed automatically, so a failed
/// run leaves its logs and databases behind for diagnosis.
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
    return String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
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
