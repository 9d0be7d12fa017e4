import NIOCore
import RMMProtocol

/// Whose connection an agent-port request is, once its headers are read. Until then it is the
/// TCP peer's, or the client a trusted proxy's PROXY header named (the sender of the HTTP
/// request). When that sender is a `--trusted-proxy` address, `X-Forwarded-For` names the
/// client (read as on the API port, `TrustedProxies.readForwarded`); from any other sender the
/// header is ignored, since anyone can write one. An unreadable header from a trusted proxy is
/// refused rather than guessed around: the proxy is misconfigured, and counting its clients
/// under its own address is what this exists to stop.
struct ForwardedAgentClient {
    enum Decision: Equatable {
        /// The sender is the client: no trusted proxy spoke for another.
        case keep
        /// A trusted proxy named this client (no port: the proxy does not say it).
        case forwarded(SocketAddress)
        /// Answer 400 with this reason.
        case refuse(String)
    }

    let trusted: TrustedProxies
    /// The first decision, kept: the upgrade handler and the plain-HTTP handler may both ask.
    private(set) var decision: Decision?

    init(trusted: TrustedProxies) {
        self.trusted = trusted
    }

    /// Whether connections from `sender` are a proxy's, counted at accept under the proxy cap
    /// until their headers name the client.
    func isProxy(_ sender: SocketAddress?) -> Bool {
        sender.flatMap(\.ipBytes).map(trusted.trusts) ?? false
    }

    /// The request's headers are read: `forwardedFor` holds its `X-Forwarded-For` values in order.
    mutating func headersRead(sender: SocketAddress?, forwardedFor: [String]) -> Decision {
        if let decision { return decision }
        let decided = Self.decide(trusted: trusted, sender: sender, forwardedFor: forwardedFor)
        decision = decided
        return decided
    }

    private static func decide(trusted: TrustedProxies, sender: SocketAddress?, forwardedFor: [String]) -> Decision {
        guard let peer = sender?.ipBytes, let reading = trusted.readForwarded(peer: peer, headers: forwardedFor) else { return .keep }
        if let problem = reading.problem { return .refuse(problem) }
        guard let client = reading.client,
              let address = try? SocketAddress(packedIPAddress: ByteBuffer(bytes: client), port: 0) else {
            return .refuse("X-Forwarded-For names no client")
        }
        return .forwarded(address)
    }
}
