/// The packet and message sizes both ends agree on: the TCP MSS an agent clamps to when large
/// packets are lost on its path, and the range of the message cap above which messages are chunked.
public enum PacketLimits {
    /// The TCP MSS an agent is asked to use after a size blackhole: fits a 1280-byte path MTU
    /// (the IPv6 minimum) with room for IP and TCP options.
    public static let clampedMSS = 1200
    /// The MSS values either end takes from the other (the upgrade query, a close hint); any
    /// other is ignored.
    public static let mssRange = 500...9000
    /// The smallest message cap, and the one a size blackhole starts from.
    public static let minMessageCap = 1024
    /// The largest message cap: half a frame, so a chunk and its envelope fit one frame.
    public static let maxMessageCap = WireLimits.maxFrameBytes / 2
    /// Every message cap a link uses; a config or close hint outside it is refused or ignored.
    public static let messageCapRange = minMessageCap...maxMessageCap

    /// `bytes` brought into `messageCapRange` (a link's cap is never smaller or larger).
    public static func clampMessageCap(_ bytes: Int) -> Int {
        max(minMessageCap, min(bytes, maxMessageCap))
    }
}
