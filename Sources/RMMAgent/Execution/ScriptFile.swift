import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A script body written to a private temporary file for its interpreter; removed by `remove()`.
///
/// The file lives in its own 0700 directory made by mkdtemp, so no other user can read, replace or
/// race it between writing and running.
struct ScriptFile {
    let directory: String
    let path: String

    static func create(body: String, fileExtension: String) throws(PreparationFailure) -> ScriptFile {
        let base = FileManager.default.temporaryDirectory.path
        var template = Array((base + "/gururmm-script-XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer in
            buffer.baseAddress.flatMap { mkdtemp($0) }
        }
        guard made != nil else { throw PreparationFailure(description: "cannot create script directory in \(base): \(OSErrorText.current())") }
        let directory = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let file = ScriptFile(directory: directory, path: directory + "/script" + fileExtension)
        do throws(PreparationFailure) {
            try file.fill(body)
        } catch {
            file.remove()
            throw error
        }
        return file
    }

    private func fill(_ body: String) throws(PreparationFailure) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o700)
        guard fd >= 0 else { throw PreparationFailure(description: "cannot create script file: \(OSErrorText.current())") }
        defer { close(fd) }
        // The umask may have stripped bits from open's mode.
        guard fchmod(fd, 0o700) == 0 else { throw PreparationFailure(description: "cannot chmod script file: \(OSErrorText.current())") }
        let bytes = Array(body.utf8)
        let total = bytes.count
        var written = 0
        let failed: Int32? = bytes.withUnsafeBytes { raw in
            while written < total {
                let n = write(fd, raw.baseAddress.map { $0 + written }, total - written)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                written += n
            }
            return nil
        }
        if let failed { throw PreparationFailure(description: "cannot write script file: \(OSErrorText.describe(failed))") }
    }

    func remove() {
        unlink(path)
        rmdir(directory)
    }
}

/// Why a command could not be made ready to spawn; reported as its failure reason.
struct PreparationFailure: Error, CustomStringConvertible {
    let description: String
}
