import Foundation
import RMMTestSupport
import Testing

extension ManagedProcess {
    /// Sends SIGTERM and waits for the exit: the exit code, how long the stop took, and the log.
    func sigtermAndWait(timeout: Duration) async throws -> (code: Int32, took: Duration, log: String) {
        let clock = ContinuousClock()
        let signalled = clock.now
        signal(SIGTERM)
        let code = try await waitForExit(timeout: timeout)
        return (code, clock.now - signalled, logContents())
    }

    /// Stops a `gururmm fleet-sim --json` and counts the commands its agents ran: those they
    /// admitted (`commands_received` counts admitted and rejected ones, never a redelivery they
    /// recognised as a duplicate, which is counted apart) less those they rejected, from its
    /// closing summary. A redelivery after a node is lost is expected; running it again is not.
    func stopFleetSimCountingRuns() async throws -> Int {
        #expect(try await terminateAndWait(grace: .seconds(10)) == 0)
        let summary = try #require(logContents().split(separator: "\n").last { $0.contains("\"summary\"") })
        let stats = try #require(try JSONSerialization.jsonObject(with: Data(summary.utf8)) as? [String: Any])["stats"] as? [String: Any]
        let received = (stats?["commands_received"] as? Int) ?? -1
        let rejected = (stats?["rejected"] as? Int) ?? -1
        return received - rejected
    }
}
