import RMMProtocol

/// How a command created for an agent is stored, decided by the agent's session (the one holder
/// of its connection; see `AgentSession.admission()`): `sent` on the live connection, whose first
/// write then needs no store write of its own, or `queued` while the agent is not connected.
enum CommandAdmission: Sendable, Equatable {
    case queued
    case sent(epoch: Int)

    /// The admission for a session whose live connection has `liveEpoch` (nil: not connected).
    init(liveEpoch: Int?) {
        self = liveEpoch.map { .sent(epoch: $0) } ?? .queued
    }

    /// The state the command is stored in.
    var state: CommandState {
        switch self {
        case .queued: return .queued
        case .sent: return .sent
        }
    }

    /// The reason stored with that state: the connection it is sent on.
    var reason: String? {
        switch self {
        case .queued: return nil
        case .sent(let epoch): return Self.sentReason(epoch: epoch)
        }
    }

    /// The reason of every `sent` the session records: the epoch of the connection it goes out on.
    static func sentReason(epoch: Int) -> String { "epoch \(epoch)" }
}
