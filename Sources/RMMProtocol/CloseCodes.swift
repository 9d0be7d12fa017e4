/// WebSocket close codes GuruRMM uses, and when. 1000-range codes are RFC 6455's; 4000-range are ours.
public enum CloseCode: UInt16, Sendable, CaseIterable {
    case normal = 1000
    case goingAway = 1001
    case protocolError = 1002
    case unsupportedData = 1003
    case invalidPayload = 1007
    case policyViolation = 1008
    case messageTooBig = 1009
    case internalError = 1011
    /// Credentials or enrollment token refused.
    case authenticationFailed = 4001
    /// A newer connection of the same agent took over (on this server node or another).
    case superseded = 4002
    /// An operator evicted the session; reconnecting is expected.
    case evicted = 4003
    /// No data frame arrived before the deadline.
    case deadlineExpired = 4004
    /// The agent did not authenticate in time.
    case handshakeTimeout = 4005
    /// The agent is revoked and must not reconnect.
    case revoked = 4006
    /// The peer sent more than the receiver can queue.
    case overloaded = 4007
    /// The server is shutting down. The reason may name another node to reconnect to
    /// ("server=wss://node-2:7443/agent"; written and read as a `CloseHint`).
    case serverShutdown = 4008
    /// Too many failed authentications came from the agent's address recently; the server refuses
    /// its new connections for a while. Not permanent: back off and retry (the reason says when,
    /// e.g. "…; retry in 37 s").
    case rateLimited = 4009
    /// Data frames do not arrive on this path; reconnect with the downlink mode named in the reason
    /// ("downlink=binary" or "downlink=poll"; written and read as a `CloseHint`).
    case switchDownlink = 4010
    /// Large packets or frames are lost; reconnect with the limits in the reason ("mss=1200 cap=1024";
    /// written and read as a `CloseHint`).
    case shrinkPackets = 4011
    /// The agent's message consumer is stuck; rebuild the session.
    case agentStalled = 4012
    /// The peer failed to decode our frames; reconnect with fresh codec state.
    case protocolDesync = 4013
    /// The server cannot write to this connection; reconnect.
    case writeBlocked = 4014

    /// Close codes after which the agent should not try again. `rateLimited` is not one: the
    /// address is refused only until its failures age out of the server's one-minute window.
    public var isPermanent: Bool { self == .authenticationFailed || self == .revoked }
}
