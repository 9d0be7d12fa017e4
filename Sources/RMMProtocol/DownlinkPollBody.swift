import Foundation

/// The body of a long-poll downlink answer (`DownlinkPollQuery`): the frames after the poll's
/// `after`, each as an 8-byte index and a 4-byte length, big-endian, then its bytes. Written by
/// the server and read by the agent's poller here.
public enum DownlinkPollBody {
    /// Largest answer body a reader takes (the agent's poller, and a node relaying a poll).
    public static let maxBytes = 64 << 20

    /// Encodes frames for the HTTP answer.
    public static func encode(_ frames: [(index: Int, data: Data)]) -> Data {
        var out = Data()
        for frame in frames {
            withUnsafeBytes(of: UInt64(frame.index).bigEndian) { out.append(contentsOf: $0) }
            withUnsafeBytes(of: UInt32(frame.data.count).bigEndian) { out.append(contentsOf: $0) }
            out.append(frame.data)
        }
        return out
    }

    /// The inverse of `encode`; nil if the body is not well formed.
    public static func decode(_ body: Data) -> [(index: Int, data: Data)]? {
        var out: [(Int, Data)] = []
        var cursor = body.startIndex
        while cursor < body.endIndex {
            guard body.distance(from: cursor, to: body.endIndex) >= 12 else { return nil }
            let index = body[cursor..<cursor + 8].reduce(0) { $0 << 8 | Int($1) }
            let length = body[cursor + 8..<cursor + 12].reduce(0) { $0 << 8 | Int($1) }
            cursor += 12
            // The index becomes the next poll's `after`: it must be one the server could have given.
            guard (1...WireRange.maxCount).contains(index), length <= WireLimits.maxFrameBytes,
                  body.distance(from: cursor, to: body.endIndex) >= length else { return nil }
            out.append((index, Data(body[cursor..<cursor + length])))
            cursor += length
        }
        return out
    }
}
