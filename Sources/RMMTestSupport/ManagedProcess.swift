import Foundation
import Synchronization

/// A real child process for end-to-end tests, with stdout and stderr captured in a log file.
///
/// The child runs in its own process group, so `terminateAndWait()` (and, as a safety net,
/// deinit) also kills anything it spawned. Exit status is collected with `waitpid` by this
/// object only; do not mix it with another reaper for the same pid.
public final class ManagedProcess: Sendable {
    /// The child's process id (also its process group id).
    public let pid: pid_t
    /// Where the child's stdout and stderr go, for diagnostics.
    public let logPath: String
    /// The executable as given to `start`.
    public let executable: String

    /// Exit code once reaped: the code for a normal exit, 128 + signal for a signalled one
    /// (the shell's convention, so "killed by SIGKILL" reads as 137).
    private let exitCode = Mutex<Int32?>(nil)

    private init(pid: pid_t, logPath: String, executable: String) {
        self.pid = pid
        self.logPath = logPath
        self.executable = executable
    }

    /// Starts `executable` (a path, or a name looked up in PATH) with `arguments`.
    ///
    /// - Parameters:
    ///   - environment: variables set on top of the inherited environment (or on top of
    ///     nothing when `inheritEnvironment` is false).
    ///   - logPath: the log file; by default `output.log` in a new temporary directory.
    ///   - standardInput: a file the child reads as its standard input (default: /dev/null).
    public static func start(
        _ executable: String,
        arguments: [String] = [],
        environment: [String: String] = [:],
        inheritEnvironment: Bool = true,
        logPath: String? = nil,
        standardInput: String? = nil
    ) throws -> ManagedProcess {
        try start(executable, arguments: arguments, environment: environment, inheritEnvironment: inheritEnvironment, logPath: logPath,
                  standardInput: standardInput, terminal: nil)
    }

    /// `start`, with the child on the pseudo-terminal `terminal` (a device path) when given.
    static func start(
        _ executable: String, arguments: [String], environment: [String: String], inheritEnvironment: Bool, logPath: String?,
        standardInput: String?, terminal: String?
    ) throws -> ManagedProcess {
        let log = try logPath ?? defaultLogPath(for: executable)
        var fullEnvironment = inheritEnvironment ? ProcessInfo.processInfo.environment : [:]
        fullEnvironment.merge(environment) { _, new in new }
        let pid = try spawnChild(
            executable: executable,
            arguments: arguments,
            environment: fullEnvironment,
            logPath: log,
            standardInput: standardInput ?? "/dev/null",
            terminal: terminal
        )
        return ManagedProcess(pid: pid, logPath: log, executable: executable)
    }

    deinit {
        // Safety net for a test that forgot terminateAndWait(): never leave a child behind.
        if exitCode.withLock({ $0 }) == nil {
            kill(-pid, SIGKILL)
            var status: Int32 = 0
            _ = waitpid(pid, &status, 0)
        }
    }

    /// Sends `sig` (e.g. SIGTERM, SIGKILL) to the child itself, not its group.
    public func signal(_ sig: Int32) {
        guard isRunning else { return }
        kill(pid, sig)
    }

    /// Whether the child has not exited yet.
    public var isRunning: Bool {
        do {
            return try reap() == nil
        } catch {
            // waitpid failing means the pid is not our child any more, so it is not running.
            return false
        }
    }

    /// Waits for the child to exit and returns its exit code (128 + signal if signalled).
    public func waitForExit(timeout: Duration = .seconds(30)) async throws -> Int32 {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while true {
            if let code = try reap() {
                return code
            }
            if clock.now >= deadline {
                throw ManagedProcessError.timedOut(pid: pid, executable: executable, timeout: timeout)
            }
            // Polling, because there is no portable async child-exit notification without a
            // process-wide SIGCHLD handler; 10 ms keeps exits snappy at negligible cost.
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Asks the child's process group to stop (SIGTERM), kills it (SIGKILL) if it has not
    /// exited within `grace`, and returns the child's exit code.
    @discardableResult
    public func terminateAndWait(grace: Duration = .seconds(5)) async throws -> Int32 {
        if isRunning {
            kill(-pid, SIGTERM)
        }
        let code: Int32
        do {
            code = try await waitForExit(timeout: grace)
        } catch ManagedProcessError.timedOut {
            kill(-pid, SIGKILL)
            code = try await waitForExit(timeout: .seconds(10))
        }
        // Grandchildren that ignored SIGTERM or outlived the leader would keep the log open.
        kill(-pid, SIGKILL)
        return code
    }

    /// Everything the child wrote to stdout and stderr so far.
    public func logContents() -> String {
        guard let data = FileManager.default.contents(atPath: logPath) else { return "" }
        return String(decoding: data, as: UTF8.self)
    }

    /// The log's last `tail` characters for a failure report, preceded by the head of a crash
    /// report if the child crashed: its cause and crashing thread come first in the log, and a
    /// long backtrace would push them out of the tail.
    public func logExcerpt(tail: Int = 4000) -> String {
        let log = logContents()
        let lines = log.split(separator: "\n", omittingEmptySubsequences: false)
        guard log.count > tail,
              let crash = lines.firstIndex(where: { $0.contains("crashed") || $0.contains("Fatal error") || $0.contains("Precondition failed") })
        else { return String(log.suffix(tail)) }
        let head = lines[crash..<min(lines.count, crash + 40)].joined(separator: "\n")
        return head + "\n  [...]\n" + String(log.suffix(tail))
    }

    /// Reaps the child if it has exited; returns its exit code, or nil while it runs.
    private func reap() throws -> Int32? {
        try exitCode.withLock { exitCode in
            if let exitCode {
                return exitCode
            }
            var status: Int32 = 0
            let result = waitpid(pid, &status, WNOHANG)
            if result == 0 {
                return nil
            }
            guard result == pid else {
                throw ManagedProcessError.waitFailed(pid: pid, errno: errno)
            }
            let code = decodeWaitStatus(status)
            exitCode = code
            return code
        }
    }

    private static func defaultLogPath(for executable: String) throws -> String {
        let name = (executable as NSString).lastPathComponent
        let directory = try freeTemporaryDirectory(prefix: "managed-\(name)")
        return (directory as NSString).appendingPathComponent("output.log")
    }
}

/// Why a managed process could not be started or waited for.
public enum ManagedProcessError: Error, CustomStringConvertible, Sendable {
    case spawnFailed(executable: String, errno: Int32)
    case waitFailed(pid: pid_t, errno: Int32)
    case timedOut(pid: pid_t, executable: String, timeout: Duration)

    public var description: String {
        switch self {
        case let .spawnFailed(executable, code):
            "cannot start \(executable): \(String(cString: strerror(code)))"
        case let .waitFailed(pid, code):
            "waitpid(\(pid)) failed: \(String(cString: strerror(code)))"
        case let .timedOut(pid, executable, timeout):
            "\(executable) (pid \(pid)) did not exit within \(timeout)"
        }
    }
}

/// Decodes a `waitpid` status the way WIFEXITED/WEXITSTATUS/WTERMSIG do (Swift does not
/// import those macros).
func decodeWaitStatus(_ status: Int32) -> Int32 {
    let signal = status & 0x7f
    if signal == 0 {
        return (status >> 8) & 0xff
    }
    return 128 + signal
}
