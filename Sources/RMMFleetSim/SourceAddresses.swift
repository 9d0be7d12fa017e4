import Foundation
import RMMTransport

/// The local addresses simulated agents connect from.
///
/// A server counts unauthenticated connections and failed authentications per client address,
/// and on loopback one address also runs out of ports: 20,000 connections and the server's
/// TIME_WAIT entries from a restart need more than one address's ~28,000 ephemeral ports. Against
/// a loopback server the fleet therefore spreads over 127.0.0.1, 127.0.0.2, … (the whole 127/8 is
/// local on Linux), as many as the connect concurrency and the fleet size need.
public enum SourceAddresses {
    /// The automatic choice for `endpoint`: loopback addresses for a loopback server, else none
    /// (the OS picks the address).
    public static func automatic(for endpoint: ServerEndpoint, count: Int, connectConcurrency: Int, connectsPerAddress: Int) -> [String] {
        guard isLoopbackIPv4(endpoint.host) || endpoint.host == "localhost" else { return [] }
        let forConcurrency = (min(connectConcurrency, count) + connectsPerAddress - 1) / max(1, connectsPerAddress)
        let forPorts = (count + 9_999) / 10_000
        let addresses = min(254, max(1, forConcurrency, forPorts))
        return (1...addresses).map { "127.0.0.\($0)" }
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
