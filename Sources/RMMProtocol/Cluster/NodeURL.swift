import Foundation

/// A cluster node's agent URL as it travels on the wire: in the welcome's `nodes` and in the
/// close hint `server=`. Text from the network: anything but a short `ws://` or `wss://` URL with
/// a host (no spaces, no user, no query) is refused with the reason, never trusted.
public enum NodeURL {
    /// Most node URLs one welcome carries.
    public static let maxNodes = 64
    /// Longest node URL in a welcome, bytes of UTF-8.
    public static let maxBytes = 255
    /// Longest node URL in a close hint: the reason (`server=` and the URL) must fit the 123 bytes
    /// a close frame carries.
    public static let maxHintBytes = 116

    /// Nil when `text` is a usable node URL of at most `limit` bytes; otherwise why not.
    public static func problem(_ text: String, limit: Int = maxBytes) -> String? {
        guard text.utf8.count <= limit else { return "longer than \(limit) bytes" }
        // Printable ASCII only: no spaces (they separate close-hint words), no controls for a log line.
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else { return "not printable ASCII without spaces" }
        let lower = text.lowercased()
        guard lower.hasPrefix("ws://") || lower.hasPrefix("wss://") else { return "not a ws:// or wss:// URL" }
        guard let parts = URLComponents(string: text), let host = parts.host, !host.isEmpty else { return "no host" }
        guard parts.user == nil, parts.password == nil, parts.query == nil, parts.fragment == nil else {
            return "carries a user, query or fragment"
        }
        if let port = parts.port, !(1...65_535).contains(port) { return "port out of range" }
        return nil
    }

    /// Whether the URL is plain text (`ws://`), usable only by an agent run with `--allow-plain`.
    public static func isPlain(_ text: String) -> Bool {
        text.lowercased().hasPrefix("ws://")
    }
}
