import RMMProtocol
import RMMTransport

/// How one connection of an agent ended, as the reconnect logic needs to know it. Shared by the
/// agent and the fleet simulator, so both react to closes the same way.
public enum SessionEnd: Sendable {
    /// The session ran (or tried to) and ended. `downlinkQuiet`: data frames stopped while
    /// control frames arrived, so the next connection should use the fallback downlink.
    /// `welcomeLost`: the small challenge came but the larger welcome never did.
    case ended(LinkClosure, welcomed: Bool, downlinkQuiet: Bool, welcomeLost: Bool)
    /// The server refused us for good (bad credentials, revoked).
    case refused(LinkClosure)

    /// Reads how `link` ended, and drops it. `challenged`: the challenge had arrived; `quiet`: the
    /// session saw data frames stop while control frames still arrived.
    public static func of(_ link: WebSocketLink, welcomed: Bool, quiet: Bool, challenged: Bool = false) -> SessionEnd {
        let closure = link.closure ?? LinkClosure(code: nil, reason: "connection ended", byPeer: true)
        // The challenge never came but our ping's pong did: data frames are filtered on the way down.
        let handshakeQuiet = !welcomed && closure.code == CloseCode.handshakeTimeout.rawValue && link.counters.pongsReceived > 0
        link.abort()
        if let code = closure.code, closure.byPeer, let known = CloseCode(rawValue: code), known.isPermanent {
            return .refused(closure)
        }
        let welcomeLost = challenged && !welcomed && closure.code == CloseCode.handshakeTimeout.rawValue && !closure.byPeer
        return .ended(closure, welcomed: welcomed, downlinkQuiet: quiet || (handshakeQuiet && !challenged), welcomeLost: welcomeLost)
    }
}
