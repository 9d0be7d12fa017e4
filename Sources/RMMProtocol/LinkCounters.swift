/// What one end of a connection observed, split by data and control frames. Evidence for diagnosis.
public struct LinkCounters: Sendable, Equatable, Codable {
    public var dataFramesIn = 0
    public var dataFramesOut = 0
    public var dataBytesIn = 0
    public var dataBytesOut = 0
    public var controlFramesIn = 0
    public var controlFramesOut = 0
    /// Messages handed to the owner.
    public var messagesReceived = 0
    /// Messages the owner reported as handled (`WebSocketLink.markHandled`).
    public var messagesHandled = 0
    public var pingsSent = 0
    public var pongsReceived = 0
    public var decodeErrors = 0
    public var unknownTypes = 0
    public var firstUnknownType: String?
    /// Unix seconds of the last data / control frame in each direction.
    public var lastDataIn: Double?
    public var lastDataOut: Double?
    public var lastControlIn: Double?
    public var lastControlOut: Double?
    /// Round-trip times of the most recent pongs, milliseconds, newest last (bounded).
    public var recentPongRttMs: [Double] = []
    /// Times the channel became unwritable (the peer or path stopped taking our bytes).
    public var unwritableEpisodes = 0
    public var isWritable = true

    /// How many recent pong round trips are kept (and accepted from a peer).
    public static let maxRecentPongs = 64

    public init() {}

    /// Latest pong round trip, milliseconds.
    public var lastPongRttMs: Double? { recentPongRttMs.last }

    public mutating func recordPong(rttMs: Double) {
        pongsReceived += 1
        recentPongRttMs.append(rttMs)
        if recentPongRttMs.count > Self.maxRecentPongs { recentPongRttMs.removeFirst(recentPongRttMs.count - Self.maxRecentPongs) }
    }
}

extension LinkCounters {
    /// p50, p99 and max of the recent pong round trips, milliseconds.
    public var pongRttSummary: RttSummary? {
        guard !recentPongRttMs.isEmpty else { return nil }
        let sorted = recentPongRttMs.sorted()
        func percentile(_ p: Double) -> Double { sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))] }
        return RttSummary(p50Ms: percentile(0.5), p99Ms: percentile(0.99), maxMs: sorted[sorted.count - 1], samples: sorted.count)
    }
}

/// A summary of recent round-trip times.
public struct RttSummary: Sendable, Equatable, Codable {
    public var p50Ms: Double
    public var p99Ms: Double
    public var maxMs: Double
    public var samples: Int
}
