import NIOCore

/// Decides what one direction of one proxied connection forwards, chunk by chunk.
///
/// One instance lives per connection and direction, and it sees every chunk read in that
/// direction whatever the mode, so stream parsers (e.g. a future RFC 6455 frame filter that
/// waits for the HTTP 101 and then drops data frames or corrupts the N-th frame) keep their
/// place across reads and across mode changes.
protocol ChunkFilter {
    /// Returns the bytes to forward for `chunk` under `mode`, or nil to forward nothing.
    mutating func process(_ chunk: ByteBuffer, mode: FaultMode, direction: FaultDirection) -> ByteBuffer?
}

/// The byte-level filter for the modes that do not look inside the stream.
struct ModeChunkFilter: ChunkFilter {
    mutating func process(_ chunk: ByteBuffer, mode: FaultMode, direction: FaultDirection) -> ByteBuffer? {
        switch mode {
        case .pass: chunk
        // Bytes already read when the path died are lost, as on a real dead path.
        case .halfOpen: nil
        }
    }
}

extension FaultMode {
    /// A fresh filter for one direction of a new connection.
    func makeFilter() -> any ChunkFilter {
        // Every mode shares one filter for now; WebSocket-aware modes will return a frame parser
        // here that is created for every connection, since the mode can change mid-stream.
        ModeChunkFilter()
    }
}
