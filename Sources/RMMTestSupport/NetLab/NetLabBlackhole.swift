import Foundation

/// The tc configuration that turns a veth end into an MTU blackhole.
///
/// This kernel family may lack `sch_prio`, the `basic` classifier, `meta` ematches and the
/// `gact` (drop) action, so the blackhole is built only from what minimal kernels have:
/// an HTB root whose default class passes traffic, u32 filters on the IPv4 total-length field
/// steering oversized packets into a second class, and a `pfifo limit 0` leaf under that class
/// which drops everything enqueued to it. A qdisc drop never produces ICMP.
enum NetLabBlackhole {
    /// Handle of the leaf qdisc that drops; its "dropped" counter counts blackholed packets.
    static let dropQdisc = "2:"

    /// `tc` argument lists (without `-n NS`) that install the blackhole on `device`.
    static func tcCommands(device: String, above limit: Int) -> [[String]] {
        // 10gbit is far above anything a test pushes through a veth, so HTB never shapes.
        let passClass = ["htb", "rate", "10gbit", "quantum", "60000"]
        var commands: [[String]] = [
            ["qdisc", "add", "dev", device, "root", "handle", "1:", "htb", "default", "1"],
            ["class", "add", "dev", device, "parent", "1:", "classid", "1:1"] + passClass,
            ["class", "add", "dev", device, "parent", "1:", "classid", "1:2"] + passClass,
            ["qdisc", "add", "dev", device, "parent", "1:2", "handle", dropQdisc, "pfifo", "limit", "0"],
        ]
        let filter = ["filter", "add", "dev", device, "parent", "1:", "protocol", "ip"]
        for prefix in totalLengthPrefixes(above: limit) {
            // u32 "at 2" is relative to the IP header: bytes 2-3 are the total length.
            commands.append(filter + [
                "prio", "1", "u32", "match", "u16", hex(prefix.value), hex(prefix.mask), "at", "2",
                "flowid", "1:2",
            ])
        }
        // Belt and braces: nothing here should ever send "fragmentation needed", but if
        // anything did, it must not reach the peer, or this would not be a blackhole.
        commands.append(filter + [
            "prio", "2", "u32", "match", "ip", "protocol", "1", "0xff",
            "match", "ip", "icmp_type", "3", "0xff", "match", "ip", "icmp_code", "4", "0xff",
            "flowid", "1:2",
        ])
        return commands
    }

    /// Value/mask pairs that together match exactly the 16-bit values greater than `limit`
    /// (u32 can only match under a mask, so the range is split into aligned power-of-two blocks).
    static func totalLengthPrefixes(above limit: Int) -> [(value: UInt16, mask: UInt16)] {
        var prefixes: [(value: UInt16, mask: UInt16)] = []
        var low = limit + 1
        let high = Int(UInt16.max)
        while low <= high {
            var size = 1
            while low % (size * 2) == 0 && low + size * 2 - 1 <= high {
                size *= 2
            }
            prefixes.append((UInt16(low), UInt16(0xFFFF & ~(size - 1))))
            low += size
        }
        return prefixes
    }

    /// Reads the drop counter of the blackhole leaf from `tc -s qdisc show` output.
    static func droppedPackets(inQdiscStatistics output: String) -> Int {
        let lines = output.split(separator: "\n").map(String.init)
        guard let header = lines.firstIndex(where: { $0.contains("pfifo \(dropQdisc)") }),
              header + 1 < lines.count,
              let range = lines[header + 1].range(of: "dropped ")
        else { return 0 }
        let digits = lines[header + 1][range.upperBound...].prefix { $0.isNumber }
        return Int(digits) ?? 0
    }

    private static func hex(_ value: UInt16) -> String {
        "0x" + String(value, radix: 16)
    }
}
