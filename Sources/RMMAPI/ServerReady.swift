import Foundation

// Written by the server to DATA_DIR/server.json and read by the CLI to find the API and its pin.

/// What a started server tells its caller: where it listens, how to trust it, where the admin token is.
public struct ServerReady: Sendable, Codable {
    public var agentPort: Int
    public var apiPort: Int
    /// `wss://HOST:PORT/agent` (or `ws://` with --plain).
    public var agentUrl: String
    /// `https://HOST:PORT` (or `http://` with --plain).
    public var apiUrl: String
    /// The pin of the TLS certificate's key; nil when plain.
    public var tlsPin: String?
    public var adminTokenPath: String
    public var adminTokenCreated: Bool
    /// The token in `adminTokenPath` was revoked: the server started without it. Absent from older servers.
    public var adminTokenRevoked: Bool?
    /// No token file, and the cluster this node joined already had an admin token: this node made
    /// none (copy the first node's file, or mint one through the API). Absent from single nodes.
    public var adminTokenHeldByCluster: Bool?
    public var pid: Int32
    /// `http://HOST:PORT/metrics` of the `--metrics-listen` listener (no token); absent without one.
    public var metricsUrl: String?

    /// Every field, as the server fills it in.
    public init(
        agentPort: Int, apiPort: Int, agentUrl: String, apiUrl: String, tlsPin: String?, adminTokenPath: String,
        adminTokenCreated: Bool, adminTokenRevoked: Bool?, pid: Int32
    ) {
        self.agentPort = agentPort
        self.apiPort = apiPort
        self.agentUrl = agentUrl
        self.apiUrl = apiUrl
        self.tlsPin = tlsPin
        self.adminTokenPath = adminTokenPath
        self.adminTokenCreated = adminTokenCreated
        self.adminTokenRevoked = adminTokenRevoked
        self.pid = pid
    }
}
