import Foundation
import RMMTestSupport
import Synchronization
import Testing

@Suite("waitUntil and helpers")
struct SupportTests {
    @Test("waitUntil's timeout error names what and how long")
    func waitUntilTimeoutMessage() async throws {
        do {
            try await waitUntil("the moon to turn green", timeout: .milliseconds(100), poll: .milliseconds(10)) {
                false
            }
            Issue.record("waitUntil returned although the condition never held")
        } catch let error as WaitTimeoutError {
            #expect(error.description.contains("the moon to turn green"))
            #expect(error.description.contains("\(Duration.milliseconds(100))"))
        }
    }

    @Test("waitUntil returns once the condition holds")
    func waitUntilSucceeds() async throws {
        let calls = Mutex(0)
        try await waitUntil("third poll", timeout: .seconds(60), poll: .milliseconds(1)) {
            calls.withLock { count in
                count += 1
                return count >= 3
            }
        }
        #expect(calls.withLock { $0 } == 3)
    }

    @Test("temporary directories are fresh and distinct")
    func temporaryDirectories() throws {
        let first = try freeTemporaryDirectory(prefix: "rmm-test")
        let second = try freeTemporaryDirectory(prefix: "rmm-test")
        #expect(first != second)
        #expect(try FileManager.default.contentsOfDirectory(atPath: first).isEmpty)
        #expect((first as NSString).lastPathComponent.hasPrefix("rmm-test."))
        try FileManager.default.removeItem(atPath: first)
        try FileManager.default.removeItem(atPath: second)
    }

    @Test("locateProductBinary honours the <NAME>_BINARY override")
    func locateOverride() {
        setenv("RMM_FAKE_TOOL_BINARY", "/bin/sh", 1)
        #expect(locateProductBinary("rmm-fake-tool") == "/bin/sh")
        #expect(locateProductBinary("no-such-product-anywhere") == nil)
    }

    #if os(Linux)
    @Test("locateProductBinary finds products next to the test bundle")
    func locateBesideTestBundle() throws {
        // On Linux the test bundle is itself an executable in the build products directory.
        let found = try #require(locateProductBinary("gururmmPackageTests.xctest"))
        #expect(found.hasSuffix("/gururmmPackageTests.xctest"))
    }
    #endif
}
