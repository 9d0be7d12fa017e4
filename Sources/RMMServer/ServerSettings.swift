import Foundation

/// Server-side timings and limits that are not part of the agent config.
public struct ServerSettings: Sendable {
    /// Seconds an agent has after the WebSocket upgrade to authenticate.
    public var handshakeTimeout: Double = 10
    /// Seconds between server ticks (heartbeats, deadlines, retransmissions, expiry).
    public var tickInterval: Double = 0.5
    /// Extra seconds after a command's expiry before it is declared expired, so an agent that got it
    /// just in time can still acknowledge it (the agent refuses commands past their validity itself).
    public var expiryGrace: Double = 5
    /// Seconds between flushes of per-agent liveness to the store.
    public var livenessFlushInterval: Double = 30
    /// Default seconds a command may wait for delivery.
    public var defaultExpirySeconds: Double = 300
    /// Default seconds a command may run.
    public var defaultTimeoutSeconds: Double = 300
    /// Largest script body accepted from the API.
    public var maxScriptBytes: Int = 8 << 20
    /// Seconds past `expiresAt + timeoutSeconds` after which a delivered command without a result
    /// ends `timed_out` (the agent may have been offline holding it; a day of grace by default).
    public var resultSlack: Double = 86_400
    /// Commands one request may create (fan-out bound).
    public var maxCommandsPerRequest: Int = 100_000

    public init() {}
}
