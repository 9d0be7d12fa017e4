import Foundation

/// Splits an encoded envelope into `chunk` frames when it is longer than the message cap.
public struct Chunker: Sendable {
    private var nextId = 1
    private let codec = WireCodec()

    public init() {}

    /// The frames to send for one encoded envelope: itself when it fits, chunk envelopes otherwise.
    public mutating func frames(for encoded: Data, maxMessageBytes: Int) throws -> [Data] {
        if encoded.count <= maxMessageBytes { return [encoded] }
        // Base64 and the chunk's own envelope grow a slice by a third plus ~100 bytes.
        let slice = max(256, (maxMessageBytes - 128) * 3 / 4)
        let count = (encoded.count + slice - 1) / slice
        let id = nextId
        nextId += 1
        var frames: [Data] = []
        frames.reserveCapacity(count)
        var index = 0
        var start = encoded.startIndex
        while start < encoded.endIndex {
            let end = encoded.index(start, offsetBy: slice, limitedBy: encoded.endIndex) ?? encoded.endIndex
            let chunk = Chunk(id: id, index: index, count: count, data: Data(encoded[start..<end]))
            frames.append(try codec.encode(Envelope(.chunk(chunk))))
            index += 1
            start = end
        }
        return frames
    }
}

/// Reassembles chunked messages. One message at a time: chunks of different messages never interleave
/// on one connection, because each side writes a message's chunks back to back.
public struct Reassembler: Sendable {
    private var current: (id: Int, count: Int, next: Int, bytes: Data)?
    private let maxMessageBytes: Int

    public init(maxMessageBytes: Int = WireLimits.maxMessageBytes) {
        self.maxMessageBytes = maxMessageBytes
    }

    /// Adds one chunk; returns the whole encoded envelope once the last chunk arrived.
    public mutating func add(_ chunk: Chunk) throws(WireDecodeError) -> Data? {
        guard chunk.count >= 1, chunk.count <= WireLimits.maxChunksPerMessage, (0..<chunk.count).contains(chunk.index) else {
            throw .malformed("chunk \(chunk.index) of \(chunk.count) is out of range")
        }
        if chunk.index == 0 {
            if current != nil { throw .malformed("chunked message \(chunk.id) started before the previous one finished") }
            current = (chunk.id, chunk.count, 0, Data())
        }
        guard var state = current, state.id == chunk.id, state.count == chunk.count, state.next == chunk.index else {
            throw .malformed("chunk \(chunk.index) of message \(chunk.id) arrived out of order")
        }
        state.bytes.append(chunk.data)
        if state.bytes.count > maxMessageBytes {
            current = nil
            throw .tooLarge(state.bytes.count, limit: maxMessageBytes)
        }
        state.next += 1
        if state.next == state.count {
            current = nil
            return state.bytes
        }
        current = state
        return nil
    }
}
