import NIOCore

/// Decides what one direction of one proxied connection forwards, chunk by chunk.
///
/// One instance lives per connection and direction, and it sees every chunk read in that
/// direction whatever the mode, so a stream parser (`FrameFilter`, which follows RFC 6455
/// framing to drop or corrupt whole frames) keeps its place across reads and across mode changes.
protocol ChunkFilter {
    /// Returns the bytes to forward for `chunk` under `mode`, or nil to forward nothing.
    mutating func process(_ chunk: ByteBuffer, mode: FaultMode, direction: FaultDirection) -> ByteBuffer?
}
