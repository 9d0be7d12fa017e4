import Foundation
import NIOCore

/// Groups agents into sites by the network they connect from: the /24 (IPv4) or /64 (IPv6) of
/// their public address as this node sees it (after trusted proxies), and says in one sentence
/// what a site's agents share. Pure: the agents' facts are passed in.
enum SiteGrouping {
    /// What a site's sentence is made of, per agent.
    struct Member: Sendable, Equatable {
        var id: String
        var name: String
        /// The address the agent connects from (`ip:port`, `[ip]:port` or a bare ip); nil when not connected here.
        var remote: String?
        var verdict: String?
        var mode: String?
        /// Why the agent uses its downlink mode (the API's `downlinkReason`).
        var modeReason: String?
    }

    /// One site.
    struct Site: Sendable, Equatable {
        var network: String
        var addresses: [String]
        var members: [Member]
        var sentence: String
    }

    /// The sites of `members` that have an address, biggest first; agents without one are left out.
    static func sites(_ members: [Member]) -> [Site] {
        var groups: [String: [(address: String, member: Member)]] = [:]
        for member in members {
            guard let address = member.remote.flatMap(host(of:)), let network = network(of: address) else { continue }
            groups[network, default: []].append((address, member))
        }
        return groups.map { network, entries in
            let addresses = Array(Set(entries.map(\.address))).sorted()
            let members = entries.map(\.member)
            return Site(network: network, addresses: addresses, members: members, sentence: sentence(network: network, addresses: addresses, members: members))
        }
        .sorted { ($0.members.count, $1.network) > ($1.members.count, $0.network) }
    }

    /// "12 agents behind 203.0.113.7 use the poll downlink: WebSocket data frames filtered on this path; 12 have verdict path-filters-data."
    static func sentence(network: String, addresses: [String], members: [Member]) -> String {
        let behind = addresses.count == 1 ? addresses[0] : "\(network) (\(addresses.count) addresses)"
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

    /// The ip of `ip:port`, `[ip]:port` or a bare ip.
    static func host(of remote: String) -> String? {
        if remote.hasPrefix("["), let end = remote.firstIndex(of: "]") { return String(remote[remote.index(after: remote.startIndex)..<end]) }
        if remote.filter({ $0 == ":" }).count == 1, let colon = remote.firstIndex(of: ":") { return String(remote[..<colon]) }
        return remote
    }

    /// "203.0.113.0/24" or "2001:db8:1:2::/64"; nil for text that is not an address.
    static func network(of host: String) -> String? {
        guard let address = try? SocketAddress(ipAddress: host, port: 0), let bytes = address.ipBytes else { return nil }
        if bytes.count == 4 { return "\(bytes[0]).\(bytes[1]).\(bytes[2]).0/24" }
        let groups = stride(from: 0, to: 8, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
        return groups.joined(separator: ":") + "::/64"
    }
}
