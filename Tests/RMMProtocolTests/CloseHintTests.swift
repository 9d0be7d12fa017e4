import RMMProtocol
import RMMTestSupport
import Testing

/// The words a close reason carries for the agent (4010, 4011): written by the server, read by
/// the agent, and hostile on the way.
@Suite("Close hints")
struct CloseHintTests {
    /// Every hint the server can send.
    static let sent: [CloseHint] = DownlinkMode.allCases.map(CloseHint.switchDownlink)
        + [PacketLimits.mssRange.lowerBound, PacketLimits.clampedMSS, PacketLimits.mssRange.upperBound].flatMap { mss in
            [PacketLimits.minMessageCap, 4096, PacketLimits.maxMessageCap].map { CloseHint.shrinkPackets(mss: mss, cap: $0) }
        }

    @Test("every hint reads back as itself under its own close code")
    func roundTrip() {
        for hint in Self.sent {
            #expect(CloseHint.parse(code: hint.code, reason: hint.reason) == hint, "\(hint.reason)")
            #expect(hint.reason.utf8.count <= 123, "fits a close frame")
        }
        for hint in [CloseHint.shrinkPackets(mss: nil, cap: 2048), .shrinkPackets(mss: 1200, cap: nil), .shrinkPackets(mss: nil, cap: nil)] {
            #expect(CloseHint.parse(code: .shrinkPackets, reason: hint.reason) == hint, "\(hint.reason)")
        }
    }

    @Test("the reasons keep the words agents already parse")
    func reasonText() {
        #expect(CloseHint.switchDownlink(.poll).reason == "downlink=poll")
        #expect(CloseHint.switchDownlink(.binary).code == .switchDownlink)
        #expect(CloseHint.shrinkPackets(mss: 1200, cap: 1024).reason == "mss=1200 cap=1024")
        #expect(CloseHint.shrinkPackets(mss: 1200, cap: 1024).code == .shrinkPackets)
    }

    @Test("a number that is not a whole number in range is left out, never trusted or trapped on")
    func hostileNumbers() {
        let tokens = NumericExtremes.tokens + ["", "abc", "1200.5", "+-1", "0x4b0", "1 200", "=1200", String(repeating: "9", count: 400)]
        for token in tokens {
            let mss = CloseHint.parse(code: .shrinkPackets, reason: "mss=\(token) cap=2048")
            #expect(mss == .shrinkPackets(mss: nil, cap: 2048), "mss=\(token) → \(String(describing: mss))")
            let cap = CloseHint.parse(code: .shrinkPackets, reason: "mss=1200 cap=\(token)")
            #expect(cap == .shrinkPackets(mss: 1200, cap: nil), "cap=\(token) → \(String(describing: cap))")
        }
        for (mss, cap) in [(PacketLimits.mssRange.lowerBound - 1, PacketLimits.minMessageCap - 1),
                           (PacketLimits.mssRange.upperBound + 1, PacketLimits.maxMessageCap + 1), (Int.max, Int.max), (Int.min, Int.min)] {
            #expect(CloseHint.parse(code: .shrinkPackets, reason: "mss=\(mss) cap=\(cap)") == .shrinkPackets(mss: nil, cap: nil))
        }
    }

    @Test("unknown modes, words and codes carry no hint; of a repeated word the first counts")
    func hostileWords() {
        #expect(CloseHint.parse(code: .switchDownlink, reason: "downlink=carrier-pigeon") == nil)
        #expect(CloseHint.parse(code: .switchDownlink, reason: "downlink= downlink") == nil)
        #expect(CloseHint.parse(code: .switchDownlink, reason: "") == nil)
        #expect(CloseHint.parse(code: .switchDownlink, reason: "please downlink=poll now") == .switchDownlink(.poll))
        #expect(CloseHint.parse(code: .switchDownlink, reason: "downlink=binary downlink=poll") == .switchDownlink(.binary))
        #expect(CloseHint.parse(code: .shrinkPackets, reason: "mss=1300 mss=1200 cap=4096 cap=1024") == .shrinkPackets(mss: 1300, cap: 4096))
        #expect(CloseHint.parse(code: .shrinkPackets, reason: "large packets are lost") == .shrinkPackets(mss: nil, cap: nil))
        for code in [CloseCode.normal, .evicted, .superseded, .protocolError, .rateLimited] {
            #expect(CloseHint.parse(code: code, reason: "downlink=poll mss=1200 cap=1024") == nil, "\(code)")
        }
        let long = String(repeating: "mss=1200=cap ", count: 20_000) + "downlink=poll"
        #expect(CloseHint.parse(code: .switchDownlink, reason: long) == .switchDownlink(.poll))
    }

    @Test("a link's message cap is always in range")
    func messageCapClamp() {
        for bytes in [Int.min, -1, 0, 1023, 1024, 65_536, PacketLimits.maxMessageCap, PacketLimits.maxMessageCap + 1, Int.max] {
            #expect(PacketLimits.messageCapRange.contains(PacketLimits.clampMessageCap(bytes)), "\(bytes)")
        }
        #expect(PacketLimits.clampMessageCap(65_536) == 65_536)
    }
}
