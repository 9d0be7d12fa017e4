import RMMProtocol

/// What a `WebSocketLink` hands its owner, in arrival order.
public enum LinkEvent: Sendable {
    /// A decoded (and, if chunked, reassembled) message.
    case message(Envelope)
    /// Several messages that arrived in one socket read, in order. Only after the owner called
    /// `WebSocketLink.deliverInBatches()`; until then every message comes as `.message`.
    case messages([Envelope])
    /// The connection ended. `code` is the close code the peer sent or we sent, if any.
    case closed(LinkClosure)
}

/// Takes a message on the link's event loop instead of it becoming an event; returns false to let
/// it through. It runs on the event loop for every decoded message, so it must be quick and never
/// wait. For messages whose whole effect is a few recorded values (an idle agent's heartbeat): the
/// owner reads them when it needs them, and no task runs per message.
public typealias LinkSideline = @Sendable (Envelope) -> Bool

/// Why and how a link ended.
public struct LinkClosure: Sendable, Equatable, CustomStringConvertible {
    public var code: UInt16?
    public var reason: String
    /// True when the peer initiated the close (sent a close frame or dropped the TCP connection).
    public var byPeer: Bool

    public init(code: UInt16?, reason: String, byPeer: Bool) {
        self.code = code
        self.reason = reason
        self.byPeer = byPeer
    }

    public var description: String {
        let who = byPeer ? "peer" : "local"
        if let code { return "\(who) closed with \(code): \(reason)" }
        return "\(who) closed: \(reason)"
    }
}
