import RMMProtocol
import RMMTestSupport
import Testing

@testable import RMMServer

/// The numbers in the upgrade URL (`/agent?downlink=…&mss=…`), reachable before authentication.
@Suite("Upgrade query")
struct UpgradeQueryTests {
    @Test("mss is taken only as a whole number 500…9000; every extreme is ignored, never a trap")
    func mssExtremes() {
        for token in NumericExtremes.tokens + ["", "abc", "1400.5", String(repeating: "9", count: 400)] {
            let request = AgentUpgradeRequest(uri: "/agent?mss=\(token)&downlink=binary")
            #expect(request.mss == nil, "mss=\(token) → \(String(describing: request.mss))")
            #expect(request.downlink == .binary)
        }
        #expect(AgentUpgradeRequest(uri: "/agent?mss=1400").mss == 1400)
        #expect(AgentUpgradeRequest(uri: "/agent?mss=499").mss == nil)
        #expect(AgentUpgradeRequest(uri: "/agent?downlink=nonsense").downlink == .text)
    }
}
