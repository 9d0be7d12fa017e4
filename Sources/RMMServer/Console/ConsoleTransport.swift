import RMMProtocol

/// Whether a browser reached the console over https, and whether a login may happen on this
/// connection: a token typed over plain http to a non-loopback address crosses a network in clear.
/// Pure: the request's facts are passed in.
enum ConsoleTransport: Equatable, Sendable {
    /// TLS to this server, or to a trusted proxy that says so: the cookie gets `Secure`.
    case secure
    /// Plain http that never leaves the machine (loopback): allowed, without `Secure`.
    case loopback
    /// Plain http across a network: login refused, with why and how to fix it.
    case refused(String)

    /// Judges a request. `tls`: this server terminates TLS. `forwardedProto`: the
    /// `X-Forwarded-Proto` header, taken only from a trusted proxy (`peerTrusted`).
    /// `client`: the browser's address (after trusted proxies); `local`: the address it connected to.
    static func judge(tls: Bool, peerTrusted: Bool, forwardedProto: String?, client: [UInt8]?, local: [UInt8]?) -> ConsoleTransport {
        if tls { return .secure }
        if peerTrusted {
            if forwardedProto?.lowercased() == "https" { return .secure }
            // The proxy's own connection is loopback; what matters is how the browser reached it.
            if let client, isLoopback(client) { return .loopback }
            return .refused(
                "the proxy in front of this server says the browser used plain http"
                    + (forwardedProto == nil ? " (it sends no X-Forwarded-Proto)" : "")
                    + ". Serve the console over https at the proxy and have it send 'X-Forwarded-Proto: https'."
            )
        }
        if let local, isLoopback(local) { return .loopback }
        return .refused(
            "this server is reached over plain http on a network address, so the token would cross the network in clear. "
                + "Start the server with --tls-cert and --tls-key, put it behind an https proxy listed in --trusted-proxy, "
                + "or open the console through an SSH tunnel to 127.0.0.1."
        )
    }

    /// 127.0.0.0/8, ::1, or an IPv4-mapped loopback.
    static func isLoopback(_ bytes: [UInt8]) -> Bool {
        if bytes.count == 4 { return bytes[0] == 127 }
        guard bytes.count == 16 else { return false }
        if bytes[0..<15].allSatisfy({ $0 == 0 }) && bytes[15] == 1 { return true }
        let mapped: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]
        return Array(bytes[0..<12]) == mapped && bytes[12] == 127
    }
}
