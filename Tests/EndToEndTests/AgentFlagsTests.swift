import Foundation
import RMMTestSupport
import Testing

extension EndToEnd {
    /// The agent's timing is set by flags (the environment variables that used to set it are gone).
    @Suite("End to end: agent flags", .serialized)
    struct AgentFlagsTests {
        @Test("a timing flag that is not a number of seconds in (0, 86400] is refused before the agent starts", arguments: [
            ("--max-backoff", "nan"), ("--handshake-timeout", "0"), ("--watchdog-seconds", "-1"), ("--retry-text-after", "1e9"),
        ])
        func badTimingFlag(_ flag: String, _ value: String) async throws {
            let state = try freeTemporaryDirectory(prefix: "gururmm-e2e-flags")
            // The harness passes `--max-backoff 1` first; the flag given here comes later, and the
            // argument parser keeps the last value of a repeated option.
            let agent = try E2EAgent.start(name: "tuned", server: "ws://127.0.0.1:1", enrollToken: "t", stateDirectory: state, arguments: ["\(flag)=\(value)"])
            let code = try await agent.process.waitForExit(timeout: .seconds(60))
            let log = agent.process.logContents()
            #expect(code != 0)
            #expect(log.contains("\(flag) must be a number of seconds in (0, 86400]"), "\(log)")
            #expect(!FileManager.default.fileExists(atPath: state + "/identity.json"), "refused before anything is made")
        }
    }
}
