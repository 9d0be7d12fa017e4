import Foundation

/// The payload format of binary data frames: a marker byte, then the envelope's JSON masked so that
/// content inspection on the path (a WAF matching JSON or command text) sees no pattern. This is
/// not secrecy — TLS is — only a way past filters that drop what they recognise.
public enum OpaqueFraming {
    /// First byte of every opaque binary frame (format version 1).
    public static let marker: UInt8 = 0x47
    private static let mask: [UInt8] = [0x5A, 0xC3, 0x96, 0x2E, 0x71, 0xE8, 0x0F, 0xB4]

    public static func wrap(_ payload: Data) -> Data {
        var out = Data(capacity: payload.count + 1)
        out.append(marker)
        var i = 0
        for byte in payload {
            out.append(byte ^ mask[i & 7])
            i += 1
        }
        return out
    }

    /// Nil when the frame is not in this format.
    public static func unwrap(_ frame: Data) -> Data? {
        guard frame.first == marker else { return nil }
        var out = Data(capacity: frame.count - 1)
        var i = 0
        for byte in frame.dropFirst() {
            out.append(byte ^ mask[i & 7])
            i += 1
        }
        return out
    }
}
