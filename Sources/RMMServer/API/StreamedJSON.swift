import Foundation
import Hummingbird
import NIOCore
import RMMAPI

/// A JSON text written in pieces: raw punctuation and comma-separated encoded items.
struct JSONPieces {
    private var buffer = ByteBuffer()
    private var first = true
    private let encoder = APICoding.encoder()

    mutating func raw(_ text: String) { buffer.writeString(text) }

    /// The next item of the list being written.
    mutating func item<T: Encodable>(_ value: T) throws {
        if !first { buffer.writeInteger(UInt8(ascii: ",")) }
        first = false
        buffer.writeBytes(try encoder.encode(value))
    }

    /// The next `item` starts a new list.
    mutating func restartList() { first = true }

    mutating func flushIfFull(to writer: inout any ResponseBodyWriter) async throws {
        if buffer.readableBytes >= NDJSONLines.flushBytes { try await flush(to: &writer) }
    }

    mutating func flush(to writer: inout any ResponseBodyWriter) async throws {
        guard buffer.readableBytes > 0 else { return }
        try await writer.write(buffer)
        buffer = ByteBuffer()
    }
}

/// NDJSON lines gathered into one buffer and written to a response body about 64 KiB at a time.
struct NDJSONLines {
    static let flushBytes = 64 << 10
    private var buffer = ByteBuffer()
    private let encoder = APICoding.encoder()

    mutating func append<T: Encodable>(_ value: T) throws {
        buffer.writeBytes(try encoder.encode(value))
        buffer.writeInteger(UInt8(ascii: "\n"))
    }

    /// A batch line, written by `BatchLineCodec` when it can (the same bytes as the encoder's).
    mutating func append(_ line: BatchStreamLine) throws {
        buffer.writeBytes(try BatchLineCodec.encode(line) ?? Array(encoder.encode(line)))
        buffer.writeInteger(UInt8(ascii: "\n"))
    }

    mutating func flushIfFull(to writer: inout any ResponseBodyWriter) async throws {
        if buffer.readableBytes >= Self.flushBytes { try await flush(to: &writer) }
    }

    mutating func flush(to writer: inout any ResponseBodyWriter) async throws {
        guard buffer.readableBytes > 0 else { return }
        try await writer.write(buffer)
        buffer = ByteBuffer()
    }
}
