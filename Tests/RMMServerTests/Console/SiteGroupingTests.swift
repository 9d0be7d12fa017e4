import Foundation
import RMMAPI
import RMMProtocol
import RMMStore
import Testing

@testable import RMMServer

/// Sites: agents grouped by the /24 or /64 they connect from, and the sentence that says what they share.
@Suite("Site grouping")
struct SiteGroupingTests {
    func member(_ id: String, _ remote: String?, mode: String? = "poll", verdict: String? = "path-filters-data") -> SiteGrouping.Member {
        SiteGrouping.Member(id: id, name: id, remote: remote, verdict: verdict, mode: mode,
                            modeReason: mode == "poll" ? "poll: WebSocket data frames filtered on this path since 2026-01-01T00:00:00Z (at the challenge)" : nil)
    }

    @Test("networks are the /24 or /64 of the address, with or without a port")
    func networks() {
        #expect(SiteGrouping.host(of: "203.0.113.7:5555") == "203.0.113.7")
        #expect(SiteGrouping.host(of: "[2001:db8:1:2::9]:443") == "2001:db8:1:2::9")
        #expect(SiteGrouping.network(of: "203.0.113.7") == "203.0.113.0/24")
        #expect(SiteGrouping.network(of: "2001:db8:1:2::9") == "2001:db8:1:2::/64")
        #expect(SiteGrouping.network(of: "not an address") == nil)
    }

    @Test("a site's agents behind one address that share the poll downlink get the issue's sentence")
    func sentence() {
        let members = (1...12).map { member("a\($0)", "203.0.113.7:\(4000 + $0)") } + [member("b1", "198.51.100.20:1", mode: "text", verdict: "healthy"), member("c", nil)]
        let sites = SiteGrouping.sites(members)
        #expect(sites.map(\.network) == ["203.0.113.0/24", "198.51.100.0/24"])
        #expect(sites[0].sentence == "12 agents behind 203.0.113.7 use the poll downlink: WebSocket data frames filtered on this path; 12 with verdict path-filters-data.")
        #expect(sites[1].sentence == "1 agent behind 198.51.100.20 uses the text downlink; 1 with verdict healthy.")
    }

    @Test("the batch summary counts succeeded, failed and expired, and gives the reasons")
    func batchSummary() {
        let summary = BatchSummaryView(batchId: "b", total: 4, terminal: 4, done: true, states: ["succeeded": 1, "failed": 1, "expired": 2])
        func command(_ id: String, _ state: CommandState, _ reason: String?) -> CommandRecord {
            var record = CommandRecord(id: id, agentId: "a", batchId: "b", kind: .shell, text: "x", interpreter: nil, timeoutSeconds: 1,
                                       createdAt: Date(timeIntervalSince1970: 0), expiresAt: Date(timeIntervalSince1970: 1),
                                       updatedAt: Date(timeIntervalSince1970: 0), createdBy: "ops")
            record.state = state
            record.reason = reason
            return record
        }
        let text = BatchSummaryText.describe(summary, commands: [command("1", .succeeded, nil), command("2", .failed, "exit 1"),
                                                                  command("3", .expired, "agent offline"), command("4", .expired, "agent offline")])
        #expect(text == "4 commands: 1 succeeded, 1 failed, 2 expired. Reasons: 2 × agent offline; 1 × exit 1.")
    }
}
