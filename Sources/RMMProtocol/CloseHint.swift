/// What a close reason tells the agent to change before it reconnects: the `key=value` words the
/// server writes after close codes 4010 (`downlink=poll`), 4011 (`mss=1200 cap=1024`) and 4008
/// (`server=wss://node-2:7443/agent`, a draining node naming another), and the agent reads back here. A reason is text from the network: a value that is missing, not a
/// plain whole number, or outside what the server sends is left out, never trusted.
public enum CloseHint: Sendable, Equatable {
    /// Reconnect with this downlink (close code `switchDownlink`).
    case switchDownlink(DownlinkMode)
    /// Reconnect with TCP's MSS clamped to `mss` and messages capped at `cap` bytes (close code
    /// `shrinkPackets`); nil for a value the reason did not carry usably.
    case shrinkPackets(mss: Int?, cap: Int?)
    /// Reconnect to this node first (close code `serverShutdown`): a `NodeURL` of at most
    /// `NodeURL.maxHintBytes` bytes. The agent still checks it as any node URL before using it.
    case reconnect(to: String)

    /// The words of the reason.
    public enum Key: String, CaseIterable, Sendable {
        case downlink, mss, cap, server
    }

    /// The close code the hint goes with.
    public var code: CloseCode {
        switch self {
        case .switchDownlink: return .switchDownlink
        case .shrinkPackets: return .shrinkPackets
        case .reconnect: return .serverShutdown
        }
    }

    /// The close reason, e.g. `downlink=binary` or `mss=1200 cap=1024` (far below the 123 bytes a
    /// close frame carries).
    public var reason: String {
        switch self {
        case .switchDownlink(let mode):
            return "\(Key.downlink.rawValue)=\(mode.rawValue)"
        case .shrinkPackets(let mss, let cap):
            let words = [mss.map { "\(Key.mss.rawValue)=\($0)" }, cap.map { "\(Key.cap.rawValue)=\($0)" }]
            return words.compactMap { $0 }.joined(separator: " ")
        case .reconnect(let url):
            return "\(Key.server.rawValue)=\(url)"
        }
    }

    /// The hint of a close, or nil for a code that carries none, a `switchDownlink` reason that
    /// names no known mode, or a `serverShutdown` reason without a usable `server=` URL. Words are separated by spaces; of a repeated key the first counts;
    /// unknown words are ignored.
    public static func parse(code: CloseCode, reason: String) -> CloseHint? {
        switch code {
        case .switchDownlink:
            return value(.downlink, in: reason).flatMap(DownlinkMode.init(rawValue:)).map(CloseHint.switchDownlink)
        case .shrinkPackets:
            return .shrinkPackets(
                mss: number(value(.mss, in: reason), in: PacketLimits.mssRange),
                cap: number(value(.cap, in: reason), in: PacketLimits.messageCapRange)
            )
        case .serverShutdown:
            guard let url = value(.server, in: reason), NodeURL.problem(url, limit: NodeURL.maxHintBytes) == nil else { return nil }
            return .reconnect(to: url)
        default:
            return nil
        }
    }

    /// The first value of `key` in a reason.
    private static func value(_ key: Key, in reason: String) -> String? {
        for word in reason.split(separator: " ") {
            let pair = word.split(separator: "=", maxSplits: 1)
            if pair.count == 2, pair[0] == key.rawValue { return String(pair[1]) }
        }
        return nil
    }

    /// A plain whole number in `range` (at most 20 characters, so no huge text is parsed).
    private static func number(_ text: String?, in range: ClosedRange<Int>) -> Int? {
        guard let text, text.utf8.count <= 20, let value = Int(text), range.contains(value) else { return nil }
        return value
    }
}
