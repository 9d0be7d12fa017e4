/// Hard limits on what either side accepts from the wire; each has a documented default.
public enum WireLimits {
    /// Largest WebSocket frame either side accepts (a frame carries one message or one chunk).
    public static let maxFrameBytes = 1 << 20
    /// Messages longer than this are split into `chunk` frames.
    public static let defaultChunkBytes = 256 * 1024
    /// Largest reassembled message: an 8 MiB script JSON-escaped, or a result carrying two 8 MiB
    /// output streams in base64 (about 22 MiB).
    public static let maxMessageBytes = 32 << 20
    /// Most chunks one message may be split into (enough for the largest message at the smallest chunk size).
    public static let maxChunksPerMessage = 65_536
    /// Most a connection can make the server hold before its agent authenticates: every byte after
    /// the WebSocket upgrade until the hello or enroll is accepted (frames, pings and the first
    /// message together). A hello or enroll is a few hundred bytes; chunked messages are refused
    /// before authentication.
    public static let maxUnauthenticatedBytes = 64 << 10
    /// Longest HTTP request (head and any body) accepted on the agent port before it completes: an
    /// agent's upgrade request is a few hundred bytes.
    public static let maxUpgradeRequestBytes = 16 << 10
    /// Wire protocol version carried in every envelope.
    public static let protocolVersion = 2
}

/// Bounds on signed work that both ends enforce: the server refuses to create work outside them,
/// the agent refuses to run it.
public enum WorkLimits {
    /// Longest a command may wait for delivery: its signed start deadline is at most this far
    /// after it was created. The agent keeps every command id at least this long (plus the clock
    /// skew), which is what makes "at most once" hold for the whole window.
    public static let maxValiditySeconds = 30.0 * 86_400
    /// Clock difference between server and agent that the agent tolerates on a signed deadline.
    public static let clockSkewSeconds = 300.0
    /// Shortest and longest run time a command may be given.
    public static let minTimeoutSeconds = 0.001
    public static let maxTimeoutSeconds = 7.0 * 86_400
}
