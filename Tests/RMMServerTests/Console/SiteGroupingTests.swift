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

    @Test("every shape a stored address takes is read; IPv4-mapped IPv6 is its IPv4", arguments: [
        ("203.0.113.7:5555", "203.0.113.7", "203.0.113.0/24"),
        ("203.0.113.7", "203.0.113.7", "203.0.113.0/24"),
        ("[2001:db8:1:2::9]:443", "2001:db8:1:2::9", "2001:db8:1:2::/64"),
        ("[2001:db8:1:2::9]", "2001:db8:1:2::9", "2001:db8:1:2::/64"),
        // The gateway's own form (`peerDescription`): NIO's text of the address, no brackets, then the port.
        ("2001:db8:1:2::9:443", "2001:db8:1:2::9", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:3:4:5:6:65535", "2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        // Read as a bare address, the port would shift the groups into another /64 (1:0:2:3::/64).
        ("1::2:3:4:5:6:443", "1::2:3:4:5:6", "1:0:0:2::/64"),
        ("2001:db8::1", "2001:db8::1", "2001:db8::/64"),
        ("::ffff:198.51.100.20:4000", "198.51.100.20", "198.51.100.0/24"),
        ("[::ffff:198.51.100.20]:4000", "198.51.100.20", "198.51.100.0/24"),
        ("::ffff:198.51.100.20", "198.51.100.20", "198.51.100.0/24"),
        ("::1:8080", "::1", "::/64"),
        // A client named by X-Forwarded-For has no port: the gateway writes port 0.
        ("198.51.100.7:0", "198.51.100.7", "198.51.100.0/24"),
        ("2001:db8:7::7:0", "2001:db8:7::7", "2001:db8:7::/64"),
    ])
    func addressShapes(remote: String, host: String, network: String) throws {
        let bytes = try #require(SiteGrouping.address(of: remote))
        #expect(IPAddressText.describe(bytes) == host)
        #expect(SiteGrouping.network(of: bytes) == network)
    }

    @Test("text that is not an address is not read as one", arguments: [
        "unknown", "?:0", "", ":", "[]", "[2001:db8::1", "[2001:db8::1]:", "[2001:db8::1]:99999", "[2001:db8::1]x", "[203.0.113.7]:1",
        "203.0.113.7:", "203.0.113.7:65536", "203.0.113.7:-1", "203.0.113.7:0x1", "203.0.113.256:1", "203.0.113:1", "2001:db8::1%eth0:5",
        "fe80::1%25eth0", "host.example:443", String(repeating: "1", count: 5000), "1.2.3.4:5:6:7:8:9:10:11:12",
    ])
    func unreadable(remote: String) {
        #expect(SiteGrouping.address(of: remote) == nil)
    }

    @Test("an address that cannot be read puts its agent in the unknown network, never drops or crashes; no address is left out")
    func unknownNetwork() {
        let sites = SiteGrouping.sites([
            member("a", "203.0.113.7:1"), member("b", "garbage"), member("c", "?:0"), member("d", nil),
            member("e", "::ffff:203.0.113.9:2", mode: "text", verdict: "healthy"),
        ])
        #expect(sites.map(\.network) == ["203.0.113.0/24", SiteGrouping.unknownNetwork])
        #expect(sites[0].members.map(\.id) == ["a", "e"] && sites[0].addresses == ["203.0.113.7", "203.0.113.9"])
        #expect(sites[1].members.map(\.id) == ["b", "c"] && sites[1].addresses.isEmpty)
        #expect(sites[1].sentence == "2 agents behind addresses the server could not read use the poll downlink: WebSocket data frames filtered on this path; 2 with verdict path-filters-data.")
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
