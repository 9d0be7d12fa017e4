import Foundation
import RMMTransport

/// The local addresses simulated agents connect from.
///
/// A server counts unauthenticated connections (including long-polls) and failed authentications
/// per client address, and on loopback one address also runs out of ports: 20,000 connections
/// plus the server's TIME_WAIT entries after a restart need more than one address's ~28,000
/// ephemeral ports. Against a loopback server every agent therefore gets an address of its own in
/// 127/8 (all of it is local on Linux), 127.1.1.1, 127.1.1.2, …, so the server sees a fleet of
/// hosts, as it would in the field.
public enum SourceAddresses {
    /// The automatic choice for `endpoint`: one loopback address per agent for a loopback server,
    /// else none (the OS picks the address).
    public static func automatic(for endpoint: ServerEndpoint, count: Int) -> [String] {
        guard isLoopbackIPv4(endpoint.host) || endpoint.host == "localhost" else { return [] }
        return (0..<max(0, min(count, 254 * 254 * 254))).map(loopback)
    }

    /// The `index`-th address of 127/8 used for agents: 127.1.1.1, …, 127.1.1.254, 127.1.2.1, …
    static func loopback(_ index: Int) -> String {
        "127.\(index / (254 * 254) + 1).\(index / 254 % 254 + 1).\(index % 254 + 1)"
    }

    /// Reads `127.0.0.1-127.0.0.16,10.0.0.5`: single IPv4/IPv6 addresses, and IPv4 ranges in the last octet.
    public static func parse(_ text: String) throws -> [String] {
        var out: [String] = []
        for item in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !item.isEmpty {
            let ends = item.split(separator: "-", maxSplits: 1).map(String.init)
            if ends.count == 2, let first = octets(ends[0]), let last = octets(ends[1]), first.prefix(3) == last.prefix(3), first[3] <= last[3] {
                let stem = first.prefix(3).map(String.init).joined(separator: ".")
                out += (first[3]...last[3]).map { "\(stem).\($0)" }
            } else if ends.count == 1, octets(item) != nil || item.contains(":") {
                out.append(item)
            } else {
                throw SimError.badOption("'\(item)' is not an address or a range like 127.0.0.2-127.0.0.20")
            }
        }
        return out
    }

    static func isLoopbackIPv4(_ host: String) -> Bool {
        octets(host)?.first == 127
    }

    private static func octets(_ text: String) -> [Int]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false).compactMap { Int($0) }
        guard parts.count == 4, parts.allSatisfy({ (0...255).contains($0) }) else { return nil }
        return parts
    }
}
