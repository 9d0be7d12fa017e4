import Crypto
import Foundation
import RMMProtocol

/// The id a WebSocket connection gets at upgrade (`UpgradeQuery.connectionIdHeader`), which its
/// long-poll downlink names: `k_`, the tag of the node start that made it (12 hex digits), then
/// 128 random bits (32 hex digits). To the agent it is opaque. The random part is the poll's only
/// credential; the tag only tells any node where the connection is held (`PollRoute`).
enum PollConnectionId {
    static let prefix = "k_"
    static let tagLength = 12
    static let randomBytes = 16
    static var length: Int { prefix.count + tagLength + randomBytes * 2 }

    /// The tag of a node start: the first 12 hex digits of SHA-256 of its lease instance, so
    /// that every node computes it from `NodePeer.instance` alone.
    static func tag(instance: String) -> String {
        String(Hex.encode(SHA256.hash(data: Data(instance.utf8))).prefix(tagLength))
    }

    /// A fresh id made by the start tagged `tag`.
    static func make(tag: String) -> String {
        var generator = SystemRandomNumberGenerator()
        let random = (0..<randomBytes).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return prefix + tag + Hex.encode(random)
    }

    /// The node tag of `id`; nil for anything not exactly of the form this server makes (text
    /// from the network: its length and every character are checked).
    static func tag(of id: String) -> String? {
        let bytes = Array(id.utf8)
        guard bytes.count == length, id.hasPrefix(prefix) else { return nil }
        let body = bytes.dropFirst(prefix.utf8.count)
        guard body.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else { return nil }
        return String(decoding: body.prefix(tagLength), as: UTF8.self)
    }
}
