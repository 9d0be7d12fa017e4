/// Hard limits on what either side accepts from the wire; each has a documented default.
public enum WireLimits {
    /// Largest WebSocket frame either side accepts (a frame carries one message or one chunk).
    public static let maxFrameBytes = 1 << 20
    /// Messages longer than this are split into `chunk` frames.
    public static let defaultChunkBytes = 256 * 1024
    /// Largest reassembled message (a 4 MiB script or two capped 4 MiB output streams, base64-encoded).
    public static let maxMessageBytes = 24 << 20
    /// Most chunks one message may be split into.
    public static let maxChunksPerMessage = 4096
    /// Wire protocol version carried in every envelope.
    public static let protocolVersion = 1
}
