import Foundation
import Synchronization

/// Runs `ip`/`tc` and friends to completion, synchronously, for NetLab.
///
/// Uses the module's `spawnChild` (posix_spawn, its own process group, stdout and stderr into a
/// log file) and reaps the child with a blocking `waitpid` on its own pid, so it never
/// interferes with `ManagedProcess` reaping. The commands are short (milliseconds), which is why
/// blocking the calling thread is acceptable.
enum NetLabShell {
    /// Directory holding the per-command output files; created on first use.
    private static let outputDirectory = Mutex<String?>(nil)
    private static let counter = Mutex<Int>(0)

    /// Runs `executable arguments...`; returns its combined output, or throws
    /// `NetLabError.commandFailed` carrying that output (what `ip`/`tc` complained about).
    @discardableResult
    static func run(_ executable: String, _ arguments: [String]) throws -> String {
        let (status, output) = try runUnchecked(executable, arguments)
        guard status == 0 else {
            throw NetLabError.commandFailed(
                command: ([executable] + arguments).joined(separator: " "),
                status: status,
                output: output
            )
        }
        return output
    }

    /// Runs `executable arguments...` and returns its exit status and combined output.
    static func runUnchecked(_ executable: String, _ arguments: [String]) throws -> (Int32, String) {
        let logPath = try nextLogPath()
        defer { unlink(logPath) }
        let pid = try spawnChild(
            executable: executable,
            arguments: arguments,
            environment: ProcessInfo.processInfo.environment,
            logPath: logPath
        )
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 {
            guard errno == EINTR else {
                throw ManagedProcessError.waitFailed(pid: pid, errno: errno)
            }
        }
        let data = FileManager.default.contents(atPath: logPath) ?? Data()
        let output = String(decoding: data, as: UTF8.self)
        return (decodeWaitStatus(status), output.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Finds `name` in PATH or the usual sbin directories (PATH may lack them for scripts).
    static func locate(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let directories = path.split(separator: ":").map(String.init)
            + ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        for directory in directories where !directory.isEmpty {
            let candidate = (directory as NSString).appendingPathComponent(name)
            if access(candidate, X_OK) == 0 {
                return candidate
            }
        }
        return nil
    }

    private static func nextLogPath() throws -> String {
        let directory = try outputDirectory.withLock { directory in
            if let directory {
                return directory
            }
            let created = try freeTemporaryDirectory(prefix: "netlab-commands")
            directory = created
            return created
        }
        let index = counter.withLock { value in
            value += 1
            return value
        }
        return (directory as NSString).appendingPathComponent("command-\(index).log")
    }
}

/// Why a NetLab could not be set up.
public enum NetLabError: Error, CustomStringConvertible, Sendable {
    case commandFailed(command: String, status: Int32, output: String)
    case toolMissing(String)
    case invalidArgument(String)

    public var description: String {
        switch self {
        case let .commandFailed(command, status, output):
            "`\(command)` exited with \(status): \(output.isEmpty ? "(no output)" : output)"
        case let .toolMissing(name):
            "\(name) not found in PATH, /usr/sbin or /sbin (Debian: apt-get install iproute2)"
        case let .invalidArgument(message):
            message
        }
    }
}
