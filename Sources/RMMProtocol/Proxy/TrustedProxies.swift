/// The addresses (`--trusted-proxy CIDR`, IPv4 and IPv6) whose word on a client's address the
/// server takes: a PROXY header on the agent port, `X-Forwarded-For` on both ports. From any
/// other peer such a claim is refused or ignored, since anyone could write one.
public struct TrustedProxies: Sendable, Equatable {
    /// One CIDR block.
    public struct Block: Sendable, Equatable, CustomStringConvertible {
        /// The network's bytes (4 or 16), host bits cleared.
        public var network: [UInt8]
        public var prefix: Int

        /// Parses `10.0.0.0/8`, `2001:db8::/32`, or a single address (a full-length prefix).
        public init(parsing text: String) throws(TrustedProxyError) {
            let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
            guard let address = parts.first.flatMap(IPAddressText.any) else {
                throw TrustedProxyError(message: "'\(LogSafe.text(text, limit: 80))' is not an IPv4 or IPv6 address or CIDR block")
            }
            let bits = address.count * 8
            var prefix = bits
            if parts.count == 2 {
                guard parts[1].utf8.count <= 3, parts[1].utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let value = Int(parts[1]), value <= bits else {
                    throw TrustedProxyError(message: "'\(LogSafe.text(text, limit: 80))' has a prefix length that is not 0...\(bits)")
                }
                prefix = value
            }
            self.prefix = prefix
            network = Self.masked(address, prefix: prefix)
        }

        /// Whether `address` (4 or 16 bytes; an IPv4-mapped IPv6 address counts as its IPv4) is in the block.
        public func contains(_ address: [UInt8]) -> Bool {
            let plain = Self.unmapped(address)
            guard plain.count == network.count else { return false }
            return Self.masked(plain, prefix: prefix) == network
        }

        public var description: String { "\(IPAddressText.describe(network))/\(prefix)" }

        /// `bytes` with every bit past the first `prefix` cleared.
        public static func masked(_ bytes: [UInt8], prefix: Int) -> [UInt8] {
            bytes.enumerated().map { index, byte in
                let keep = min(8, max(0, prefix - index * 8))
                return keep == 8 ? byte : byte & UInt8(truncatingIfNeeded: 0xFF << (8 - keep))
            }
        }

        /// The IPv4 address of an IPv4-mapped IPv6 one (`::ffff:a.b.c.d`); any other address as it is.
        public static func unmapped(_ bytes: [UInt8]) -> [UInt8] {
            if bytes.count == 16, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF { return Array(bytes[12...]) }
            return bytes
        }
    }

    public var blocks: [Block]

    public init(_ blocks: [Block] = []) {
        self.blocks = blocks
    }

    /// Parses each `--trusted-proxy` value.
    public init(parsing texts: [String]) throws(TrustedProxyError) {
        var blocks: [Block] = []
        for text in texts { blocks.append(try Block(parsing: text)) }
        self.blocks = blocks
    }

    /// No proxy is trusted: client addresses are the peers' own, and no claim is read.
    public var isEmpty: Bool { blocks.isEmpty }

    /// Whether a peer at `address` (4 or 16 bytes) is a trusted proxy.
    public func trusts(_ address: [UInt8]) -> Bool {
        blocks.contains { $0.contains(address) }
    }

    /// Most `X-Forwarded-For` entries looked at, from the right; a longer chain is cut there.
    public static let maxForwardedHops = 32

    /// Most bytes of `X-Forwarded-For` (all its headers together) a trusted proxy's chain may
    /// take: 32 IPv6 hops with separators fit.
    public static let maxForwardedBytes = 2048

    /// What a `X-Forwarded-For` chain says, read from the right.
    public struct ForwardedReading: Sendable, Equatable {
        /// The rightmost entry that is not a trusted proxy; else the last trusted one read before
        /// the chain ended or could not be read; nil when the first entry read is not an address.
        public var client: [UInt8]?
        /// Why the chain is not clean (an entry read that is not an IP address, more than
        /// `maxForwardedHops` trusted hops, more than `maxForwardedBytes`); nil when it is.
        public var problem: String?

        public init(client: [UInt8]?, problem: String?) {
            self.client = client
            self.problem = problem
        }
    }

    /// The client's address on a request from `peer` carrying `X-Forwarded-For` values `headers`
    /// (several headers read as one list, in order): the rightmost entry that is not itself a
    /// trusted proxy, walking left only through trusted ones. Nil keeps the peer: it is not trusted,
    /// there is no header, or the first entry read is not an IP address. Entries left of the
    /// first untrusted one are the client's own claims and never read.
    public func forwardedClient(peer: [UInt8], headers: [String]) -> [UInt8]? {
        readForwarded(peer: peer, headers: headers)?.client
    }

    /// The chain as `forwardedClient` reads it, with what is wrong with it, for callers that
    /// refuse an unreadable header instead of keeping the peer. Nil: the peer is not trusted or
    /// sent no header.
    public func readForwarded(peer: [UInt8], headers: [String]) -> ForwardedReading? {
        guard trusts(peer), !headers.isEmpty else { return nil }
        let bytes = headers.reduce(0) { $0 + $1.utf8.count }
        let entries = headers.flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }
        var client: [UInt8]?
        var problem: String? = bytes > Self.maxForwardedBytes ? "X-Forwarded-For is longer than \(Self.maxForwardedBytes) bytes" : nil
        for entry in entries.reversed().prefix(Self.maxForwardedHops) {
            guard let address = IPAddressText.any(Substring(entry.trimmingSpaces)) else {
                return ForwardedReading(client: client, problem: problem ?? "X-Forwarded-For has an entry that is not an IP address")
            }
            client = address
            if !trusts(address) { return ForwardedReading(client: address, problem: problem) }
        }
        if entries.count > Self.maxForwardedHops {
            problem = problem ?? "X-Forwarded-For names more than \(Self.maxForwardedHops) trusted proxies"
        }
        return ForwardedReading(client: client, problem: problem)
    }
}

/// A `--trusted-proxy` value that is not an address or CIDR block.
public struct TrustedProxyError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

extension Substring {
    /// Without leading and trailing spaces and tabs.
    fileprivate var trimmingSpaces: Substring {
        var text = self
        while let first = text.first, first == " " || first == "\t" { text.removeFirst() }
        while let last = text.last, last == " " || last == "\t" { text.removeLast() }
        return text
    }
}
