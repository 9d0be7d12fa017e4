import Foundation
import RMMProtocol

/// Groups agents into sites by the network they connect from: a site an admin named by its ranges
/// (`NamedSites`), else the /24 (IPv4) or /64 (IPv6) of their public address (after trusted
/// proxies), and says in one sentence what a site's agents share. Pure: the agents' facts are passed in.
enum SiteGrouping {
    /// What a site's sentence is made of, per agent.
    struct Member: Sendable, Equatable {
        var id: String
        var name: String
        /// The address the agent last connected from (any shape `address(of:)` reads); nil when it never connected.
        var remote: String?
        var verdict: String?
        var mode: String?
        /// Why the agent uses its downlink mode (the API's `downlinkReason`).
        var modeReason: String?
    }

    /// One site.
    struct Site: Sendable, Equatable {
        /// The named site's name, or the /24-/64 network.
        var network: String
        /// Whether an admin named it.
        var named: Bool = false
        var addresses: [String]
        var members: [Member]
        var sentence: String
    }

    /// The group of agents whose stored address could not be read (never expected; never a crash).
    static let unknownNetwork = "unknown network"

    /// The sites of `members` that have an address, biggest first; agents without one are left out,
    /// and one whose address cannot be read goes to the `unknownNetwork` site.
    static func sites(_ members: [Member], named: NamedSites.Lookup = NamedSites.Lookup(entries: [])) -> [Site] {
        struct Key: Hashable { var label: String; var named: Bool }
        var groups: [Key: [(address: String?, member: Member)]] = [:]
        for member in members {
            guard let remote = member.remote else { continue }
            guard let bytes = address(of: remote) else {
                groups[Key(label: unknownNetwork, named: false), default: []].append((nil, member))
                continue
            }
            let key = named.site(of: bytes).map { Key(label: $0, named: true) } ?? Key(label: network(of: bytes), named: false)
            groups[key, default: []].append((IPAddressText.describe(bytes), member))
        }
        return groups.map { key, entries in
            let addresses = Array(Set(entries.compactMap(\.address))).sorted()
            let members = entries.map(\.member)
            return Site(network: key.label, named: key.named, addresses: addresses, members: members,
                        sentence: sentence(network: key.label, addresses: addresses, members: members))
        }
        .sorted { ($0.members.count, $1.network) > ($1.members.count, $0.network) }
    }

    /// "12 agents behind 203.0.113.7 use the poll downlink: WebSocket data frames filtered on this path; 12 have verdict path-filters-data."
    static func sentence(network: String, addresses: [String], members: [Member]) -> String {
        let behind = switch addresses.count {
        case 0: "addresses the server could not read"
        case 1: addresses[0]
        default: "\(network) (\(addresses.count) addresses)"
        }
        let n = members.count
        var parts: [String] = []
        let modes = Dictionary(grouping: members, by: { $0.mode ?? "unknown" })
        if let (mode, holders) = modes.max(by: { $0.value.count < $1.value.count }) {
            let why = holders.compactMap(\.modeReason).first.map(reasonHead)
            let who = holders.count == n ? "\(n) agent\(n == 1 ? "" : "s") behind \(behind)" : "\(holders.count) of \(n) agents behind \(behind)"
            parts.append("\(who) use\(holders.count == 1 ? "s" : "") the \(mode) downlink" + (why.map { ": \($0)" } ?? ""))
        }
        let verdicts = Dictionary(grouping: members.compactMap(\.verdict), by: { $0 }).mapValues(\.count)
        if !verdicts.isEmpty {
            parts.append(verdicts.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.map { "\($0.value) with verdict \($0.key)" }.joined(separator: ", "))
        }
        return parts.joined(separator: "; ") + "."
    }

    /// The reason without its mode prefix and its time: "poll: X since T (…)" → "X".
    static func reasonHead(_ reason: String) -> String {
        var text = Substring(reason)
        if let colon = text.firstIndex(of: ":"), !text[..<colon].contains(" ") { text = text[text.index(after: colon)...] }
        if let since = text.range(of: " since ") { text = text[..<since.lowerBound] }
        return text.trimmingCharacters(in: .whitespaces)
    }

    /// The address bytes (4 for IPv4, IPv4-mapped IPv6 included; 16 for IPv6) of a stored remote:
    /// `1.2.3.4:5`, `[2001:db8::1]:5`, a bare address, or the gateway's own form for IPv6
    /// (`SocketAddress.peerDescription`: `2001:db8::1:5`, no brackets). That form always ends in
    /// `:port`, so a trailing `:digits` is read as the port when what precedes it is an address;
    /// nil for anything else (`unknown`, `?:0`, garbage).
    static func address(of remote: String) -> [UInt8]? {
        let text = Substring(remote)
        guard text.utf8.count <= 64 else { return nil }
        if text.hasPrefix("[") {
            guard let end = text.firstIndex(of: "]") else { return nil }
            let rest = text[text.index(after: end)...]
            guard rest.isEmpty || (rest.hasPrefix(":") && isPort(rest.dropFirst())) else { return nil }
            return IPAddressText.ipv6(text[text.index(after: text.startIndex)..<end]).map(TrustedProxies.Block.unmapped)
        }
        if let colon = text.lastIndex(of: ":"), isPort(text[text.index(after: colon)...]),
           let bytes = IPAddressText.any(text[..<colon]) {
            return TrustedProxies.Block.unmapped(bytes)
        }
        return IPAddressText.any(text).map(TrustedProxies.Block.unmapped)
    }

    /// Whether `text` is a port number's digits (1 to 5 of them, at most 65535).
    static func isPort(_ text: Substring) -> Bool {
        (1...5).contains(text.utf8.count) && text.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } && (Int(text) ?? .max) <= 65535
    }

    /// "203.0.113.0/24" or "2001:db8:1:2::/64" for 4 or 16 address bytes.
    static func network(of bytes: [UInt8]) -> String {
        guard bytes.count == 16 else { return "\(IPAddressText.describe(Array(bytes.prefix(3)) + [0]))/24" }
        return "\(IPAddressText.describe(Array(bytes.prefix(8)) + Array(repeating: 0, count: 8)))/64"
    }
}
