import Foundation
import RMMProtocol
import RMMTestSupport
import Testing

/// What the agent writes on the agent port and the server reads: the upgrade query and the
/// long-poll downlink's path and body.
@Suite("Agent port grammar")
struct AgentPortGrammarTests {
    @Test("every upgrade query reads back as itself, on any path")
    func upgradeRoundTrip() {
        for mode in DownlinkMode.allCases {
            for mss in [nil, PacketLimits.mssRange.lowerBound, PacketLimits.clampedMSS, PacketLimits.mssRange.upperBound] {
                let query = UpgradeQuery(downlink: mode, mss: mss)
                for path in [UpgradeQuery.path, "/custom/agent"] {
                    let read = UpgradeQuery.parse(uri: query.uri(path: path))
                    #expect(read.path == path && read.query == query, "\(query.uri(path: path))")
                }
            }
        }
        #expect(UpgradeQuery().uri() == "/agent", "the defaults add no query")
        #expect(UpgradeQuery(downlink: .poll, mss: 1200).uri() == "/agent?downlink=poll&mss=1200")
    }

    @Test("an MSS that is not a whole number in range, an unknown mode or parameter is ignored; of a repeated one the last counts")
    func upgradeHostile() {
        for token in NumericExtremes.tokens + ["", "abc", "1400.5", "499", "9001", String(repeating: "9", count: 400)] {
            let read = UpgradeQuery.parse(uri: "/agent?mss=\(token)&downlink=binary")
            #expect(read.query == UpgradeQuery(downlink: .binary, mss: nil), "mss=\(token)")
        }
        #expect(UpgradeQuery.parse(uri: "/agent?downlink=nonsense").query == UpgradeQuery())
        #expect(UpgradeQuery.parse(uri: "/agent?downlink=poll&downlink=binary&mss=600&mss=700").query == UpgradeQuery(downlink: .binary, mss: 700))
        #expect(UpgradeQuery.parse(uri: "/agent?x=1&&=&downlink&mss=&downlink=poll").query == UpgradeQuery(downlink: .poll))
        #expect(UpgradeQuery.parse(uri: "/agent?").path == "/agent")
        #expect(UpgradeQuery.parse(uri: "?downlink=poll").path != UpgradeQuery.path)
        #expect(UpgradeQuery.parse(uri: "").path == "")
    }

    @Test("a poll's path names its connection, and only a poll's path does")
    func pollPath() throws {
        let uri = DownlinkPollQuery(after: 7, wait: 20).uri(connectionId: "k_abc")
        #expect(uri == "/agent/downlink/k_abc?after=7&wait=20")
        let path = try #require(uri.split(separator: "?").first.map(String.init))
        #expect(DownlinkPollQuery.connectionId(path: path) == "k_abc")
        #expect(DownlinkPollQuery.connectionId(path: "/agent") == nil)
        #expect(DownlinkPollQuery.connectionId(path: "/agent/downlinks/k_abc") == nil)
        #expect(DownlinkPollQuery.connectionId(path: "/agent/downlink/") == "")
    }

    @Test("a poll's body reads back as written; a truncated or out-of-range one is refused")
    func pollBody() throws {
        let frames = [(index: 1, data: Data("a".utf8)), (index: 2, data: Data()), (index: WireRange.maxCount, data: Data(repeating: 7, count: 300))]
        let body = DownlinkPollBody.encode(frames)
        let read = try #require(DownlinkPollBody.decode(body))
        #expect(read.map(\.index) == frames.map(\.index) && read.map(\.data) == frames.map(\.data))
        #expect(DownlinkPollBody.decode(Data())?.isEmpty == true)
        for cut in 1..<body.count where DownlinkPollBody.decode(body.prefix(cut)) != nil {
            // Only a cut at a frame boundary is a whole body.
            #expect([13, 25].contains(cut), "cut at \(cut)")
        }
        for index in [0, WireRange.maxCount + 1] {
            #expect(DownlinkPollBody.decode(DownlinkPollBody.encode([(index, Data("x".utf8))])) == nil, "index \(index)")
        }
        var huge = Data(repeating: 0, count: 7) + Data([1]) + Data([0xFF, 0xFF, 0xFF, 0xFF])
        huge.append(Data(repeating: 0, count: 16))
        #expect(DownlinkPollBody.decode(huge) == nil, "a length past the frame limit")
        #expect(DownlinkPollBody.decode(Data(repeating: 0xFF, count: 12)) == nil, "an index with every bit set")
    }
}
