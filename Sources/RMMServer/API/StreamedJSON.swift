import Foundation
import Hummingbird
import NIOCore
import RMMAPI

/// Bytes for a response body, written to it about `flushBytes` at a time.
struct ResponseBuffer {
    static let flushBytes = 64 << 10
    private var bytes = ByteBuffer()

    mutating func write<Bytes: Sequence<UInt8>>(_ data: Bytes) { bytes.writeBytes(data) }
    mutating func write(_ text: String) { bytes.writeString(text) }
    mutating func write(_ byte: UInt8) { bytes.writeInteger(byte) }

    /// Writes what is buffered once it reaches `flushBytes`.
    mutating func flushIfFull(to writer: inout any ResponseBodyWriter) async throws {
        if bytes.readableBytes >= Self.flushBytes { try await flush(to: &writer) }
    }

    /// Writes whatever is buffered.
    mutating func flush(to writer: inout any ResponseBodyWriter) async throws {
        guard bytes.readableBytes > 0 else { return }
        try await writer.write(bytes)
        bytes = ByteBuffer()
    }
}

/// A JSON text written in pieces: raw punctuation and comma-separated encoded items.
struct JSONPieces {
    private var buffer = ResponseBuffer()
    private var first = true
    private let encoder = APICoding.encoder()

    mutating func raw(_ text: String) { buffer.write(text) }

    /// The next item of the list being written.
    mutating func item<T: Encodable>(_ value: T) throws {
        if !first { buffer.write(UInt8(ascii: ",")) }
        first = false
        buffer.write(try encoder.encode(value))
    }

    /// The next `item` starts a new list.
    mutating func restartList() { first = true }

    mutating func flushIfFull(to writer: inout any ResponseBodyWriter) async throws { try await buffer.flushIfFull(to: &writer) }

    mutating func flush(to writer: inout any ResponseBodyWriter) async throws { try await buffer.flush(to: &writer) }
}

/// NDJSON lines gathered into one buffer and written to a response body about 64 KiB at a time.
struct NDJSONLines {
    private var buffer = ResponseBuffer()
    private let encoder = APICoding.encoder()

    mutating func append<T: Encodable>(_ value: T) throws {
        buffer.write(try encoder.encode(value))
        buffer.write(UInt8(ascii: "\n"))
    }

    /// A batch line, written by `BatchLineCodec` when it can (the same bytes as the encoder's).
    mutating func append(_ line: BatchStreamLine) throws {
        buffer.write(try BatchLineCodec.encode(line) ?? Array(encoder.encode(line)))
        buffer.write(UInt8(ascii: "\n"))
    }

    mutating func flushIfFull(to writer: inout any ResponseBodyWriter) async throws { try await buffer.flushIfFull(to: &writer) }

    mutating func flush(to writer: inout any ResponseBodyWriter) async throws { try await buffer.flush(to: &writer) }
}
