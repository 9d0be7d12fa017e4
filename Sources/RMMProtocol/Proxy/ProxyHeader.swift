/// The PROXY protocol header (versions 1 and 2, as haproxy's `send-proxy` and `send-proxy-v2`
/// write it) that a TCP balancer puts in front of a connection to say whom it came from. A pure
/// decoder over the first bytes of a connection: it never allocates more than `maxBytes`, whatever
/// the peer's length fields say, and answers what it found, what it still needs, or why the bytes
/// are not a header it accepts.
public enum ProxyHeader {
    /// Longest v1 header, CRLF included (the protocol's own limit).
    public static let maxV1Bytes = 107
    /// Longest v2 address-and-TLV block accepted. The protocol allows 65535; haproxy sends 12 or 36
    /// bytes (plus a few TLVs when configured), so more is refused, not buffered.
    public static let maxV2PayloadBytes = 512
    /// Most bytes a header can take: what a reader may buffer before it knows.
    public static let maxBytes = 16 + maxV2PayloadBytes
    /// The 12 bytes every v2 header starts with.
    public static let v2Signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]
    static let v1Prefix = Array("PROXY ".utf8)

    /// A client's address as the header gives it.
    public struct Address: Sendable, Equatable, CustomStringConvertible {
        /// 4 bytes (IPv4) or 16 (IPv6).
        public var bytes: [UInt8]
        public var port: Int

        public init(bytes: [UInt8], port: Int) {
            self.bytes = bytes
            self.port = port
        }

        public var description: String {
            bytes.count == 16 ? "[\(IPAddressText.describe(bytes))]:\(port)" : "\(IPAddressText.describe(bytes)):\(port)"
        }
    }

    /// What the first bytes of a connection are.
    public enum Decoded: Sendable, Equatable {
        /// Too few bytes to tell: read more (at most `maxBytes` in all).
        case needMore
        /// No PROXY header: the bytes are the connection's own (a TLS hello, an HTTP request).
        case absent
        /// A header of `length` bytes; `source` is the client, nil when the header says the
        /// connection is the proxy's own (v2 `LOCAL`, v1 `UNKNOWN`, v2 `UNSPEC`).
        case header(source: Address?, destination: Address?, length: Int)
        /// A header that is broken, oversized or of a kind not accepted; the reason says which.
        case invalid(String)
    }

    /// Decodes the header at the start of `bytes`.
    public static func decode(_ bytes: some Collection<UInt8>) -> Decoded {
        guard let first = bytes.first else { return .needMore }
        if first == v1Prefix[0] { return decodeV1(bytes) }
        if first == v2Signature[0] { return decodeV2(bytes) }
        return .absent
    }

    // MARK: version 1

    private static func decodeV1(_ bytes: some Collection<UInt8>) -> Decoded {
        let head = Array(bytes.prefix(maxV1Bytes))
        // A plain "POST" also starts with P: it is a header only if all of "PROXY " matches.
        for (index, byte) in head.prefix(v1Prefix.count).enumerated() where byte != v1Prefix[index] {
            return .absent
        }
        guard head.count >= v1Prefix.count else { return .needMore }
        guard let end = crlf(in: head) else {
            return head.count >= maxV1Bytes ? .invalid("PROXY v1 header without CRLF within \(maxV1Bytes) bytes") : .needMore
        }
        let line = head[v1Prefix.count..<end]
        guard line.allSatisfy({ $0 >= 0x20 && $0 < 0x7f }) else { return .invalid("PROXY v1 header with a byte that is not printable ASCII") }
        let words = String(decoding: line, as: UTF8.self).split(separator: " ", omittingEmptySubsequences: false)
        let length = end + 2
        guard let family = words.first else { return .invalid("PROXY v1 header without a protocol") }
        switch family {
        case "UNKNOWN":
            return .header(source: nil, destination: nil, length: length)
        case "TCP4", "TCP6":
            guard words.count == 5 else { return .invalid("PROXY v1 \(family) header must have 4 fields after the protocol, got \(words.count - 1)") }
            let four = family == "TCP4"
            func parse(_ text: Substring) -> [UInt8]? { four ? IPAddressText.ipv4(text) : IPAddressText.ipv6(text) }
            guard let source = parse(words[1]), let destination = parse(words[2]) else {
                return .invalid("PROXY v1 \(family) header with an address that is not \(four ? "IPv4" : "IPv6")")
            }
            guard let sourcePort = port(words[3]), let destinationPort = port(words[4]) else {
                return .invalid("PROXY v1 header with a port that is not a whole number in 0...65535")
            }
            return .header(source: Address(bytes: source, port: sourcePort), destination: Address(bytes: destination, port: destinationPort), length: length)
        default:
            return .invalid("PROXY v1 header with unknown protocol (TCP4, TCP6 or UNKNOWN expected)")
        }
    }

    private static func crlf(in head: [UInt8]) -> Int? {
        guard head.count >= 2 else { return nil }
        for index in 0..<(head.count - 1) where head[index] == 0x0D && head[index + 1] == 0x0A { return index }
        return nil
    }

    private static func port(_ text: Substring) -> Int? {
        guard (1...5).contains(text.utf8.count), text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              let value = Int(text), value <= 65_535 else { return nil }
        return value
    }

    // MARK: version 2

    private static func decodeV2(_ bytes: some Collection<UInt8>) -> Decoded {
        let fixed = Array(bytes.prefix(16))
        for (index, byte) in fixed.prefix(v2Signature.count).enumerated() where byte != v2Signature[index] {
            return .absent
        }
        guard fixed.count == 16 else { return .needMore }
        let version = fixed[12] >> 4, command = fixed[12] & 0x0F
        guard version == 2 else { return .invalid("PROXY v2 header with version \(version)") }
        guard command <= 1 else { return .invalid("PROXY v2 header with unknown command \(command)") }
        let family = fixed[13] >> 4, transport = fixed[13] & 0x0F
        let payload = Int(fixed[14]) << 8 | Int(fixed[15])
        guard payload <= maxV2PayloadBytes else {
            return .invalid("PROXY v2 header of \(payload) address bytes (at most \(maxV2PayloadBytes) accepted)")
        }
        guard family <= 3, transport <= 2 else { return .invalid("PROXY v2 header with unknown family \(family) or transport \(transport)") }
        let length = 16 + payload
        guard bytes.count >= length else { return .needMore }
        // LOCAL: the proxy's own connection (health checks); the addresses, if any, mean nothing.
        if command == 0 { return .header(source: nil, destination: nil, length: length) }
        if family == 0 { return .header(source: nil, destination: nil, length: length) }
        guard transport == 1 else { return .invalid("PROXY v2 header for a transport other than TCP") }
        let block = Array(bytes.dropFirst(16).prefix(payload))
        switch family {
        case 1:
            guard payload >= 12 else { return .invalid("PROXY v2 IPv4 header with \(payload) address bytes (12 needed)") }
            return .header(
                source: Address(bytes: Array(block[0..<4]), port: Int(block[8]) << 8 | Int(block[9])),
                destination: Address(bytes: Array(block[4..<8]), port: Int(block[10]) << 8 | Int(block[11])),
                length: length
            )
        case 2:
            guard payload >= 36 else { return .invalid("PROXY v2 IPv6 header with \(payload) address bytes (36 needed)") }
            return .header(
                source: Address(bytes: Array(block[0..<16]), port: Int(block[32]) << 8 | Int(block[33])),
                destination: Address(bytes: Array(block[16..<32]), port: Int(block[34]) << 8 | Int(block[35])),
                length: length
            )
        default:
            return .invalid("PROXY v2 header for a unix socket (only TCP over IPv4 or IPv6 is accepted)")
        }
    }
}
