import Foundation
import RMMProtocol

/// Server-side timings and limits that are not part of the agent config.
public struct ServerSettings: Sendable {
    /// Seconds an agent has after the WebSocket upgrade to authenticate. A connection also has this
    /// long from TCP accept to finish its HTTP request (the upgrade, or a plain request).
    public var handshakeTimeout: Double = 10
    /// Seconds between server ticks (heartbeats, deadlines, retransmissions, expiry).
    public var tickInterval: Double = 0.5
    /// Seconds between sweeps for commands past their expiry or overdue for a result (each sweep
    /// reads the store; expiry is measured in seconds, so sweeping every tick buys nothing).
    public var expirySweepInterval: Double = 1
    /// Extra seconds after a command's expiry before it is declared expired, so an agent that got it
    /// just in time can still acknowledge it (the agent refuses commands past their validity itself).
    public var expiryGrace: Double = 5
    /// Seconds between flushes of per-agent liveness to the store.
    public var livenessFlushInterval: Double = 30
    /// Seconds between a cluster node's sweeps for undelivered commands its sessions lack (the
    /// most a lost cluster signal can delay a command). Unused on one node.
    public var clusterSweepInterval: Double = 5
    /// How long a cluster node stopped with SIGTERM waits for the agents it hands to the other
    /// nodes to connect there (`--drain-seconds`). Unused on one node, which does not wait.
    public var drainLimit: Duration = .seconds(30)
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
    /// Connections one address (an IPv6 /64) may hold on the agent port from TCP accept until their
    /// agent authenticates; more get `429 Too Many Requests` at accept.
    public var maxUnauthenticatedPerAddress: Int = 32
    /// Connections all addresses together may hold on the agent port before their agents
    /// authenticate; more get `503 Service Unavailable` with `Retry-After` at accept. Each costs
    /// the server at most `WireLimits.maxUnauthenticatedBytes` of input plus its connection state
    /// (measured in BENCHMARKS.md), so this bounds what unauthenticated clients can make it hold.
    public var maxUnauthenticated: Int = 4096
    /// Failed authentications (close 4001, or a protocol error before authenticating) one address
    /// may have within a minute; after that its new agent connections are closed with 4009.
    public var maxFailedAuthPerAddressPerMinute: Int = 20
    /// Non-terminal commands (queued, sent, delivered, running) one agent may have; a request
    /// that would go past it for any target creates nothing and gets 429.
    public var maxPendingCommandsPerAgent: Int = 1000
    /// First receive-buffer size of an agent connection. NIO keeps each connection's buffer between
    /// reads, so this is memory per idle agent (NIO's default of 2 KiB was 15% of it); the buffer
    /// grows while reads fill it, up to `agentReadBufferMaxBytes`.
    public var agentReadBufferBytes: Int = 512
    /// Largest receive buffer of an agent connection (a grown buffer is kept by its connection).
    public var agentReadBufferMaxBytes: Int = 16 << 10
    /// Seconds between checks whether heap freed after a burst should go back to the kernel
    /// (`HeapTrimmer`, glibc only); 0 never trims.
    public var heapTrimInterval: Double = 5
    /// Growth of resident memory since the last trim after which the next quiet check trims.
    public var heapTrimGrowthBytes: Int = 16 << 20
    /// Peers (`--trusted-proxy`) whose word on the client's address is taken: a PROXY header on the
    /// agent port, `X-Forwarded-For` on both ports. Empty: every peer is its own client.
    public var trustedProxies = TrustedProxies()
    /// Where the welcome's node list comes from (`--advertise-url` on a single node).
    public var cluster: any ClusterDirectory = SingleNodeDirectory(advertised: nil)

    public init() {}
}
