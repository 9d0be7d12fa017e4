import Foundation

/// Builds probe frames of an exact size, for the link diagnosis and `gururmm doctor`'s echoes.
public enum ProbeFrames {
    /// Probe sizes, smallest first (bytes per frame).
    public static let sizes = LinkProbePlan.sizes

    /// The encoded envelope of a probe whose frame is exactly `size` bytes (the smallest possible
    /// probe when `size` is below it).
    public static func encode(id: Int, size: Int, shape: Probe.Shape) -> Data? {
        let codec = WireCodec()
        guard let empty = try? codec.encode(Envelope(.probe(Probe(id: id, size: size, shape: shape, pad: "")))) else { return nil }
        // The smallest probe envelope is about 70 bytes: a "64 B" probe is the smallest there is.
        let room = size - empty.count
        guard room > 0 else { return empty }
        let pattern = shape == .command
            ? #"{"t":"command","kind":"shell","text":"hostname; whoami; powershell -NoProfile -Command Get-Service"} "#
            : "0123456789abcdef"
        var pad = String(repeating: pattern, count: room / pattern.utf8.count + 1)
        pad = String(pad.utf8.prefix(room)) ?? ""
        // The command-shaped pattern contains quotes, which JSON escapes; trim until it fits exactly.
        var frame = try? codec.encode(Envelope(.probe(Probe(id: id, size: size, shape: shape, pad: pad))))
        while let current = frame, current.count > size, !pad.isEmpty {
            pad.removeLast(min(pad.count, current.count - size))
            frame = try? codec.encode(Envelope(.probe(Probe(id: id, size: size, shape: shape, pad: pad))))
        }
        return frame
    }
}
