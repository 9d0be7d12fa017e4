import Foundation
import Synchronization

/// The operator's path: the wall time of a real `gururmm run --all -- true` process against the
/// bench's server, to set beside the API-level fan-out (what the CLI adds on top of the server).
enum OperatorPath {
    /// Seconds from spawning `executable run --all -- true` to its exit, and its exit status.
    /// The process is killed after `timeout` seconds.
    static func timedRun(executable: String, api: URL, token: String, logPath: String, timeout: Double) async throws -> (seconds: Double, status: Int32) {
        guard FileManager.default.createFile(atPath: logPath, contents: nil), let log = FileHandle(forWritingAtPath: logPath) else {
            throw BenchError("cannot write \(logPath)")
        }
        defer { try? log.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable).standardizedFileURL
        process.arguments = ["run", "--api", api.absoluteString, "--token", token, "--all", "--timeout", "60", "--expires", "120", "--", "true"]
        process.standardOutput = log
        process.standardError = log
        let clock = ContinuousClock()
        let started = clock.now
        // Kills a run that hangs; cancelled when it exits (its pid may be reused after).
        let watchdog = Mutex<Task<Void, Never>?>(nil)
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: BenchError("cannot start \(executable): \(error)"))
                return
            }
            let pid = process.processIdentifier
            watchdog.withLock {
                $0 = Task {
                    try? await Task.sleep(for: .milliseconds(Int(timeout * 1000)))
                    if !Task.isCancelled { kill(pid, SIGKILL) }
                }
            }
        }
        watchdog.withLock { $0?.cancel() }
        return ((clock.now - started).seconds, status)
    }
}
