import Foundation
import RMMProtocol
import RMMTransport

/// How an agent runs.
public struct AgentOptions: Sendable {
    /// The first `--server`.
    public var endpoint: ServerEndpoint
    /// The other `--server` URLs, in order: nodes of the same cluster tried when one fails
    /// (`ServerRotation`), before the nodes learned from welcomes.
    public var otherServers: [ServerEndpoint] = []
    public var stateDirectory: String
    public var enrollToken: String?
    public var name: String?
    public var version: String
    /// Backoff between reconnects: starts here, doubles, capped at `maxBackoff`, with full jitter.
    public var minBackoff: Double = 0.5
    public var maxBackoff: Double = 30
    /// Seconds to wait for the server's challenge and welcome.
    public var handshakeTimeout: Double = 15
    /// Seconds the message consumer may sit on waiting messages before the watchdog rebuilds the session.
    public var watchdogSeconds: Double = 10
    /// Seconds in a fallback downlink mode before trying text frames again.
    public var retryPrimaryAfter: Double = 600
    /// Downlink mode to start with (and return to) at a site known to filter data frames; nil: text.
    public var downlink: DownlinkMode?
    /// Accept a plain `ws://` server (local use only; commands travel readable).
    public var allowPlain = false

    public init(endpoint: ServerEndpoint, stateDirectory: String, enrollToken: String?, name: String?, version: String) {
        self.endpoint = endpoint
        self.stateDirectory = stateDirectory
        self.enrollToken = enrollToken
        self.name = name
        self.version = version
    }
}
