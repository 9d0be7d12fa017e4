#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Strict parsing of IP address text (PROXY v1 headers, `X-Forwarded-For`, `--trusted-proxy`):
/// dotted-quad IPv4 without leading zeros, and IPv6 as `inet_pton` reads it. Anything else is nil.
public enum IPAddressText {
    /// The 4 bytes of a dotted-quad IPv4 address.
    public static func ipv4(_ text: Substring) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var bytes: [UInt8] = []
        for part in parts {
            guard (1...3).contains(part.utf8.count), part.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                  part.utf8.count == 1 || part.utf8.first != 0x30, let value = UInt8(part) else { return nil }
            bytes.append(value)
        }
        return bytes
    }

    /// The 16 bytes of an IPv6 address (no zone, no brackets; at most 45 characters).
    public static func ipv6(_ text: Substring) -> [UInt8]? {
        guard (2...45).contains(text.utf8.count), text.contains(":"),
              text.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x3a) || ($0 >= 0x41 && $0 <= 0x46) || ($0 >= 0x61 && $0 <= 0x66) || $0 == 0x2e }) else { return nil }
        var storage = in6_addr()
        let parsed = String(text).withCString { inet_pton(AF_INET6, $0, &storage) }
        guard parsed == 1 else { return nil }
        return withUnsafeBytes(of: &storage) { Array($0) }
    }

    /// Either kind: 4 bytes for IPv4, 16 for IPv6.
    public static func any(_ text: Substring) -> [UInt8]? {
        ipv4(text) ?? ipv6(text)
    }

    /// The text of 4 or 16 address bytes (IPv6 compressed as `inet_ntop` writes it).
    public static func describe(_ bytes: [UInt8]) -> String {
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
        guard bytes.count == 16 else { return "?" }
        var storage = in6_addr()
        withUnsafeMutableBytes(of: &storage) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard inet_ntop(AF_INET6, &storage, &buffer, socklen_t(buffer.count)) != nil else { return "?" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
