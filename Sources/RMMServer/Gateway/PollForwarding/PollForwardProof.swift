import Crypto
import Foundation

/// What tells a node that a long-poll request comes from another node of its cluster, and for
/// which agent address: the header `X-GuruRMM-Forwarded: v1 SECONDS MAC CLIENT`, where MAC is an
/// HMAC-SHA256 over the time, the request's URI and the agent's address, keyed by a key derived
/// from the work-signing key every node of a cluster shares (and no agent has).
///
/// Why a MAC and not a PROXY header: the nodes' source addresses are not known to each other
/// (a node may reach a peer from any interface), and trusting an address range would let anything
/// in it spoof agents' addresses. A verified header means: the request was made by a node in the
/// last `window` seconds, for exactly this URI (so for this connection id, which the sender
/// already knew), and that node accepted the agent's connection from CLIENT and counts it there
/// under that address. A replay within the window (the header travels readable only on a
/// `--plain` cluster) can only repeat the same poll of the same connection.
struct PollForwardProof: Sendable {
    /// The request header that carries the proof.
    static let header = "X-GuruRMM-Forwarded"
    /// Longest header value read; a longer one is refused unparsed.
    static let maxBytes = 256
    /// Longest client address text (`[IPv6]:port` fits with room).
    static let maxClientBytes = 64
    /// Seconds a proof stays valid either way of its time (the nodes' clocks differ a little).
    static let window: Double = 60

    /// Why a header was refused.
    enum Refusal: Error, Equatable, CustomStringConvertible {
        case malformed
        case expired
        case badMAC

        var description: String {
            switch self {
            case .malformed: return "a malformed \(PollForwardProof.header) header"
            case .expired: return "a \(PollForwardProof.header) header outside the \(Int(PollForwardProof.window)) s window"
            case .badMAC: return "a \(PollForwardProof.header) header not made with the cluster's key"
            }
        }
    }

    /// The MAC key's bytes (swift-crypto's `SymmetricKey` is not `Sendable`; one is made per use).
    private let keyBytes: Data

    /// The proof keyed by the cluster's shared secret (the work-signing private key's raw bytes).
    init(clusterSecret: Data) {
        let derived = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: clusterSecret), info: Data("gururmm long-poll forwarding v1".utf8), outputByteCount: 32
        )
        keyBytes = derived.withUnsafeBytes { Data($0) }
    }

    private var key: SymmetricKey { SymmetricKey(data: keyBytes) }

    /// The header value for a forward of `uri` on behalf of the agent at `client`.
    func seal(uri: String, client: String, now: Date) -> String {
        let seconds = Int64(now.timeIntervalSince1970.rounded(.down))
        return "v1 \(seconds) \(mac(seconds: seconds, uri: uri, client: client)) \(client)"
    }

    /// The agent's address a valid header names, for a request of `uri` received at `now`.
    func open(_ value: String, uri: String, now: Date) -> Result<String, Refusal> {
        guard value.utf8.count <= Self.maxBytes else { return .failure(.malformed) }
        let parts = value.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "v1", let seconds = Int64(parts[1]), parts[2].utf8.count == 43,
              !parts[3].isEmpty, parts[3].utf8.count <= Self.maxClientBytes,
              parts[3].utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else { return .failure(.malformed) }
        let client = String(parts[3])
        // Constant time: the comparison must not tell how much of a guess was right.
        guard let given = Self.base64URLDecode(String(parts[2])),
              HMAC<SHA256>.isValidAuthenticationCode(given, authenticating: Self.message(seconds: seconds, uri: uri, client: client), using: key)
        else { return .failure(.badMAC) }
        guard abs(now.timeIntervalSince1970 - Double(seconds)) <= Self.window else { return .failure(.expired) }
        return .success(client)
    }

    private func mac(seconds: Int64, uri: String, client: String) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: Self.message(seconds: seconds, uri: uri, client: client), using: key)
        return Data(code).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    private static func message(seconds: Int64, uri: String, client: String) -> Data {
        Data("v1\n\(seconds)\n\(uri)\n\(client)".utf8)
    }

    private static func base64URLDecode(_ text: String) -> Data? {
        let standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        return Data(base64Encoded: standard + String(repeating: "=", count: (4 - standard.count % 4) % 4))
    }
}
