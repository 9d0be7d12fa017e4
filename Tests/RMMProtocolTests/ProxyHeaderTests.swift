import Foundation
import PropertyBased
import RMMTestSupport
import Testing
@testable import RMMProtocol

/// The PROXY protocol decoder (v1 and v2) the agent port reads a trusted balancer's header with:
/// what haproxy sends reads back exactly, every shorter prefix asks for more, anything else is
/// absent or invalid, and hostile bytes never trap nor claim more than they hold.
@Suite("PROXY header")
struct ProxyHeaderTests {
    static func v1(_ text: String) -> [UInt8] { Array(text.utf8) }

    static func v2(command: UInt8 = 1, family: UInt8, transport: UInt8 = 1, payload: [UInt8]) -> [UInt8] {
        ProxyHeader.v2Signature + [0x20 | command, family << 4 | transport, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)] + payload
    }

    static let tcp4Payload: [UInt8] = [192, 0, 2, 7, 10, 0, 0, 1, 0xC3, 0x50, 0x1D, 0x13]

    @Test("v1 TCP4, TCP6 and UNKNOWN, as haproxy's send-proxy writes them")
    func version1() {
        let tcp4 = Self.v1("PROXY TCP4 192.0.2.7 10.0.0.1 50000 7443\r\n")
        #expect(ProxyHeader.decode(tcp4 + Array("GET".utf8)) == .header(
            source: .init(bytes: [192, 0, 2, 7], port: 50000), destination: .init(bytes: [10, 0, 0, 1], port: 7443), length: tcp4.count))
        let tcp6 = Self.v1("PROXY TCP6 2001:db8::5 ::1 65535 0\r\n")
        guard case .header(let source?, let destination?, let length) = ProxyHeader.decode(tcp6) else {
            Issue.record("TCP6 not read")
            return
        }
        #expect(source.bytes == [0x20, 0x01, 0x0d, 0xb8] + Array(repeating: 0, count: 11) + [5])
        #expect(source.port == 65535 && destination.port == 0 && length == tcp6.count)
        #expect(source.description == "[2001:db8::5]:65535")
        let unknown = Self.v1("PROXY UNKNOWN whatever follows\r\n")
        #expect(ProxyHeader.decode(unknown) == .header(source: nil, destination: nil, length: unknown.count))
    }

    @Test("v2 over IPv4 and IPv6, LOCAL and UNSPEC, TLVs skipped")
    func version2() {
        let tcp4 = Self.v2(family: 1, payload: Self.tcp4Payload)
        #expect(ProxyHeader.decode(tcp4 + [0x16, 0x03]) == .header(
            source: .init(bytes: [192, 0, 2, 7], port: 50000), destination: .init(bytes: [10, 0, 0, 1], port: 7443), length: 28))
        let withTLV = Self.v2(family: 1, payload: Self.tcp4Payload + [0x04, 0x00, 0x02, 0xAA, 0xBB])
        #expect(ProxyHeader.decode(withTLV) == .header(
            source: .init(bytes: [192, 0, 2, 7], port: 50000), destination: .init(bytes: [10, 0, 0, 1], port: 7443), length: 33))
        let source6: [UInt8] = [0x20, 0x01, 0x0d, 0xb8] + Array(repeating: 0, count: 11) + [9]
        let tcp6 = Self.v2(family: 2, payload: source6 + Array(repeating: 0, count: 15) + [1] + [0x01, 0xBB, 0x1D, 0x13])
        #expect(ProxyHeader.decode(tcp6) == .header(
            source: .init(bytes: source6, port: 443), destination: .init(bytes: Array(repeating: 0, count: 15) + [1], port: 7443), length: 52))
        let local = Self.v2(command: 0, family: 0, transport: 0, payload: [])
        #expect(ProxyHeader.decode(local) == .header(source: nil, destination: nil, length: 16))
        let unspec = Self.v2(family: 0, transport: 0, payload: [1, 2, 3])
        #expect(ProxyHeader.decode(unspec) == .header(source: nil, destination: nil, length: 19))
    }

    @Test("every proper prefix of a header asks for more bytes")
    func prefixes() {
        let headers = [Self.v1("PROXY TCP4 192.0.2.7 10.0.0.1 50000 7443\r\n"), Self.v2(family: 1, payload: Self.tcp4Payload)]
        for header in headers {
            for cut in 0..<header.count {
                #expect(ProxyHeader.decode(header.prefix(cut)) == .needMore, "prefix of \(cut) bytes")
            }
        }
    }

    @Test("a connection's own first bytes are no header")
    func absent() {
        for start in ["GET /agent HTTP/1.1\r\n", "POST /api", "P", "PR", "PROX", "\u{16}\u{03}\u{01}"] {
            let decoded = ProxyHeader.decode(Array(start.utf8))
            #expect(decoded == .absent || (decoded == .needMore && "PROXY ".hasPrefix(start)), "\(start.debugDescription) → \(decoded)")
        }
        #expect(ProxyHeader.decode([0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0B]) == .absent)
    }

    @Test("broken, oversized and unaccepted headers are invalid, with a reason")
    func invalid() {
        let cases: [[UInt8]] = [
            Self.v1("PROXY TCP4 192.0.2.7 10.0.0.1 50000\r\n"),
            Self.v1("PROXY TCP4 192.0.2.256 10.0.0.1 50000 7443\r\n"),
            Self.v1("PROXY TCP4 192.0.2.07 10.0.0.1 50000 7443\r\n"),
            Self.v1("PROXY TCP4 ::1 10.0.0.1 50000 7443\r\n"),
            Self.v1("PROXY TCP6 192.0.2.7 ::1 50000 7443\r\n"),
            Self.v1("PROXY TCP4 192.0.2.7 10.0.0.1 65536 7443\r\n"),
            Self.v1("PROXY TCP4 192.0.2.7 10.0.0.1 -1 7443\r\n"),
            Self.v1("PROXY TCP4 192.0.2.7 10.0.0.1 +1 7443\r\n"),
            Self.v1("PROXY TCP4 192.0.2.7 10.0.0.1 999999999999999999999 7443\r\n"),
            Self.v1("PROXY TCP4  192.0.2.7 10.0.0.1 1 7443\r\n"),
            Self.v1("PROXY UDP4 192.0.2.7 10.0.0.1 1 2\r\n"),
            Self.v1("PROXY TCP4 192.0.2.7\u{7f} 10.0.0.1 1 2\r\n"),
            Self.v1("PROXY " + String(repeating: "A", count: 200)),
            Self.v2(family: 1, payload: Array(Self.tcp4Payload.prefix(11))),
            Self.v2(family: 2, payload: Array(repeating: 0, count: 35)),
            Self.v2(family: 3, payload: Array(repeating: 0, count: 216)),
            Self.v2(family: 4, payload: Self.tcp4Payload),
            Self.v2(family: 1, transport: 2, payload: Self.tcp4Payload),
            Self.v2(family: 1, transport: 3, payload: Self.tcp4Payload),
            Self.v2(command: 2, family: 1, payload: Self.tcp4Payload),
            ProxyHeader.v2Signature + [0x11, 0x11, 0x00, 0x0C] + Self.tcp4Payload,
            // A length field far past what is accepted: refused from the 16 fixed bytes alone.
            ProxyHeader.v2Signature + [0x21, 0x11, 0xFF, 0xFF],
            ProxyHeader.v2Signature + [0x21, 0x11, 0x02, 0x01],
        ]
        for bytes in cases {
            guard case .invalid(let why) = ProxyHeader.decode(bytes) else {
                Issue.record("accepted or waiting on \(String(decoding: bytes, as: UTF8.self).debugDescription): \(ProxyHeader.decode(bytes))")
                continue
            }
            #expect(!why.isEmpty)
        }
    }

    /// Random bytes, and real headers nicked, cut or lengthened.
    static let hostile = Generator<[UInt8], Shrink.None<[UInt8]>> { rng in
        let seeds: [[UInt8]] = [
            v1("PROXY TCP4 192.0.2.7 10.0.0.1 50000 7443\r\n"), v1("PROXY TCP6 2001:db8::5 ::1 1 2\r\n"), v1("PROXY UNKNOWN\r\n"),
            v2(family: 1, payload: tcp4Payload), v2(family: 2, payload: Array(repeating: 7, count: 36)), v2(command: 0, family: 0, transport: 0, payload: []),
        ]
        var bytes: [UInt8]
        switch Int.random(in: 0...2, using: &rng) {
        case 0:
            bytes = (0..<Int.random(in: 0...600, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        case 1:
            bytes = seeds[Int.random(in: 0..<seeds.count, using: &rng)]
            for _ in 0..<Int.random(in: 1...4, using: &rng) where !bytes.isEmpty {
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
        default:
            bytes = seeds[Int.random(in: 0..<seeds.count, using: &rng)]
            bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &rng)))
                + (0..<Int.random(in: 0...40, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        }
        return bytes
    }

    @Test("hostile bytes: never a trap, a header never longer than its bytes or the cap, more asked only below the cap")
    func hostileBytes() async {
        await Self.hostile.fuzz(iterations: 5000) { bytes in
            switch ProxyHeader.decode(bytes) {
            case .header(let source, let destination, let length):
                try ensure(length <= bytes.count && length <= ProxyHeader.maxBytes, "header of \(length) bytes from \(bytes.count)")
                for address in [source, destination].compactMap({ $0 }) {
                    try ensure([4, 16].contains(address.bytes.count) && (0...65_535).contains(address.port), "address \(address)")
                }
            case .needMore:
                try ensure(bytes.count < ProxyHeader.maxBytes, "asks for more after \(bytes.count) bytes")
            case .absent:
                try ensure(!bytes.isEmpty, "no bytes read as absent")
            case .invalid(let why):
                try ensure(!why.isEmpty && why.utf8.count < 200, "reason \(why)")
            }
        }
    }
}
