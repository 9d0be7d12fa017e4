import Foundation
import RMMTestSupport
import Testing

@Suite("ManagedProcess")
struct ManagedProcessTests {
    @Test("exit code and output are captured")
    func exitCodeAndLog() async throws {
        let process = try ManagedProcess.start("/bin/sh", arguments: ["-c", "echo hi; echo oops >&2; exit 3"])
        let code = try await process.waitForExit(timeout: .seconds(10))
        #expect(code == 3)
        #expect(!process.isRunning)
        #expect(process.logContents().contains("hi"))
        #expect(process.logContents().contains("oops"))
        #expect(FileManager.default.fileExists(atPath: process.logPath))
    }

    @Test("SIGKILL ends a long-running child")
    func killSleep() async throws {
        let process = try ManagedProcess.start("sleep", arguments: ["60"])
        #expect(process.pid > 0)
        #expect(process.isRunning)
        process.signal(SIGKILL)
        let code = try await process.waitForExit(timeout: .seconds(10))
        #expect(code == 128 + SIGKILL)
        #expect(!process.isRunning)
    }

    @Test("terminateAndWait stops a child with SIGTERM")
    func terminate() async throws {
        let process = try ManagedProcess.start("sleep", arguments: ["60"])
        let code = try await process.terminateAndWait()
        #expect(code == 128 + SIGTERM)
    }

    @Test("environment is passed on top of the inherited one")
    func environment() async throws {
        let process = try ManagedProcess.start(
            "/bin/sh",
            arguments: ["-c", "echo \"$RMM_TEST_VALUE:$PATH\""],
            environment: ["RMM_TEST_VALUE": "forty-two"]
        )
        #expect(try await process.waitForExit(timeout: .seconds(10)) == 0)
        let log = process.logContents()
        #expect(log.hasPrefix("forty-two:"))
        #expect(log.count > "forty-two:\n".count)  // PATH was inherited
    }

    @Test("waitForExit times out on a running child")
    func waitTimesOut() async throws {
        let process = try ManagedProcess.start("sleep", arguments: ["60"])
        await #expect(throws: ManagedProcessError.self) {
            _ = try await process.waitForExit(timeout: .milliseconds(100))
        }
        try await process.terminateAndWait()
    }

    @Test("a missing executable is reported")
    func missingExecutable() {
        #expect(throws: ManagedProcessError.self) {
            _ = try ManagedProcess.start("/nonexistent/gururmm-test-binary")
        }
    }
}
