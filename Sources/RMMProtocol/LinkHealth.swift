/// How server → agent data frames travel. Escalates text → binary → poll when a path filters data.
public enum DownlinkMode: String, Codable, Sendable, CaseIterable {
    /// JSON in WebSocket text frames (the default).
    case text
    /// The same JSON, masked, in WebSocket binary frames (opaque to content inspection).
    case binary
    /// HTTP long-poll on the agent port; the WebSocket carries the uplink and control frames only.
    case poll

    /// The next mode to try when this one loses data frames.
    public var fallback: DownlinkMode? {
        switch self {
        case .text: return .binary
        case .binary: return .poll
        case .poll: return nil
        }
    }
}

/// What the link diagnosis concluded. Each maps to a failure mode listed in docs/diagnosis.md, section 3.
public enum LinkVerdict: String, Codable, Sendable, CaseIterable {
    case healthy
    case agentOffline = "agent-offline"
    /// H2: the agent receives frames but its consumer does not handle them.
    case agentStalled = "agent-stalled"
    /// H3: control frames pass, data frames (or some of them) are lost on the way.
    case pathFiltersData = "path-filters-data"
    /// H1: small data frames pass, large ones are lost.
    case sizeBlackhole = "size-blackhole"
    /// H4: the agent fails to decode what the server sends.
    case protocolDesync = "protocol-desync"
    /// H5: the server cannot write: the channel stays unwritable, bytes queue up.
    case writeBlocked = "write-blocked"
    /// H7: nothing comes back at all, not even pongs.
    case halfOpen = "half-open"
    /// H6: a new authenticated connection replaced one the server still held open (the stale route
    /// is closed; its unacknowledged frames move to the new one).
    case superseded
    /// A connection attempt stopped before authentication, and nothing yet says why (the stage
    /// names where: TLS, or upgraded with the challenge written but no hello).
    case handshakeIncomplete = "handshake-incomplete"
    /// The agent refused work whose signature or stream position did not verify: something on the
    /// path alters, replays or forges what the server sends.
    case pathAltersData = "path-alters-data"

    /// Whether this verdict names a problem (everything but `healthy` and `agent-offline`).
    public var isAdverse: Bool { self != .healthy && self != .agentOffline }

    /// A few words saying what the verdict means, for one-line displays.
    public var headline: String {
        switch self {
        case .healthy: return "control and data frames pass"
        case .agentOffline: return "no connection to this server"
        case .agentStalled: return "the agent's consumer is stuck"
        case .pathFiltersData: return "WebSocket data frames filtered on this path"
        case .sizeBlackhole: return "large packets lost on this path (MTU blackhole)"
        case .protocolDesync: return "the agent could not decode a server frame"
        case .writeBlocked: return "the server cannot write to the connection"
        case .halfOpen: return "the connection is open but dead"
        case .superseded: return "a new connection replaced one the server still held open"
        case .handshakeIncomplete: return "a connection attempt stopped before authentication"
        case .pathAltersData: return "something on the path alters, replays or forges server data"
        }
    }
}

/// TCP_INFO of one socket, as far as the platform gives it.
public struct TCPInfoSnapshot: Codable, Sendable, Equatable {
    public var rttMs: Double
    public var rttVarianceMs: Double
    /// Retransmissions of the current unacknowledged segment.
    public var retransmits: Int
    /// Retransmitted segments over the connection's life.
    public var totalRetransmits: Int
    /// Segments sent but not yet acknowledged.
    public var unackedSegments: Int
    public var lostSegments: Int
    public var pathMtu: Int
    public var sendMss: Int

    public init(rttMs: Double, rttVarianceMs: Double, retransmits: Int, totalRetransmits: Int, unackedSegments: Int, lostSegments: Int, pathMtu: Int, sendMss: Int) {
        self.rttMs = rttMs
        self.rttVarianceMs = rttVarianceMs
        self.retransmits = retransmits
        self.totalRetransmits = totalRetransmits
        self.unackedSegments = unackedSegments
        self.lostSegments = lostSegments
        self.pathMtu = pathMtu
        self.sendMss = sendMss
    }
}

/// One end of a link's evidence, at one moment.
public struct LinkSideReport: Codable, Sendable, Equatable {
    public var counters: LinkCounters
    public var tcp: TCPInfoSnapshot?
    /// Bytes handed to the socket layer but not yet written to the kernel.
    public var queuedBytes: Int?
    public var downlinkMode: DownlinkMode
    /// Unix seconds this was taken.
    public var time: Double

    public init(counters: LinkCounters, tcp: TCPInfoSnapshot?, queuedBytes: Int?, downlinkMode: DownlinkMode, time: Double) {
        self.counters = counters
        self.tcp = tcp
        self.queuedBytes = queuedBytes
        self.downlinkMode = downlinkMode
        self.time = time
    }
}

/// A reconnect the agent made, and why.
public struct ReconnectRecord: Codable, Sendable, Equatable {
    public var time: Double
    public var reason: String
    public init(time: Double, reason: String) {
        self.time = time
        self.reason = reason
    }
}

/// Agent → server over the uplink: the agent's side of the evidence, periodically and at once when
/// its downlink goes quiet. Sent by a reporter that does not depend on the agent's message consumer.
public struct LinkReport: Codable, Sendable, Equatable {
    public var side: LinkSideReport
    /// Recent reconnects with their reasons, newest last (bounded).
    public var reconnects: [ReconnectRecord]
    /// What the agent concluded about its own side, if anything ("downlink-quiet", "consumer-stalled", ...).
    public var agentFinding: String?
    /// The same as data: the agent's newest findings (at most `LinkFinding.maxPerReport`), each
    /// with the connection id of the attempt it was about. Absent from agents that predate it.
    public var findings: [LinkFinding]?
    /// Seconds since the consumer last handled a message while messages were waiting (0 when idle).
    public var consumerStalledSeconds: Double

    /// How many reconnect records a report carries at most.
    public static let maxReconnects = 20

    public init(side: LinkSideReport, reconnects: [ReconnectRecord], agentFinding: String?, consumerStalledSeconds: Double, findings: [LinkFinding]? = nil) {
        self.side = side
        self.reconnects = reconnects
        self.agentFinding = agentFinding
        self.findings = findings
        self.consumerStalledSeconds = consumerStalledSeconds
    }
}

/// Server → agent: a data-frame echo request of a given size; the agent answers with `probe_reply`.
public struct Probe: Codable, Sendable, Equatable {
    public enum Shape: String, Codable, Sendable { case plain, command }
    public var id: Int
    /// Size of the whole frame this probe travels in, bytes (padding makes it so).
    public var size: Int
    public var shape: Shape
    public var pad: String
    public init(id: Int, size: Int, shape: Shape, pad: String) {
        self.id = id
        self.size = size
        self.shape = shape
        self.pad = pad
    }
}

/// Agent → server: a probe arrived (and was handled by the agent's consumer).
public struct ProbeReply: Codable, Sendable, Equatable {
    public var id: Int
    public var receivedBytes: Int
    public init(id: Int, receivedBytes: Int) {
        self.id = id
        self.receivedBytes = receivedBytes
    }
}
