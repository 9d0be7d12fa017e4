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
    public static let protocolVersion = 1
}
