import Foundation
import RMMProtocol

/// Where the other nodes of a cluster reach a node's agent port to forward a long-poll to it:
/// `wss://HOST:PORT` (`ws://` on a plain cluster), recorded with the node's lease.
public enum PeerURL {
    /// Nil when `text` is a usable peer URL; otherwise why not. `secure`: the cluster serves TLS
    /// (then only `wss://`), false for `--plain` (only `ws://`), nil for either.
    public static func problem(_ text: String, secure: Bool? = nil) -> String? {
        if let problem = NodeURL.problem(text) { return problem }
        if let secure, NodeURL.isPlain(text) == secure {
            return secure ? "not a wss:// URL (the agent port serves TLS)" : "not a ws:// URL (the server runs with --plain)"
        }
        guard let path = URLComponents(string: text)?.path, ["", "/", UpgradeQuery.path].contains(path) else {
            return "a URL with a path other than \(UpgradeQuery.path)"
        }
        return nil
    }

    /// The default: the agent listener's host and bound port. A wildcard listener (`0.0.0.0`,
    /// `::`) is no address a peer can connect to, so the host's name stands in for it: peers
    /// must resolve it to this machine (else `--peer-url` says where).
    public static func byDefault(listenHost: String, port: Int, secure: Bool, hostName: String) -> String {
        let host: String
        switch listenHost {
        case "0.0.0.0", "::", "": host = hostName
        default: host = listenHost.contains(":") ? "[\(listenHost)]" : listenHost
        }
        return "\(secure ? "wss" : "ws")://\(host):\(port)"
    }
}
