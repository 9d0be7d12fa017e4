import Synchronization

/// The epoch of a session's live connection, readable without a hop onto the session's actor:
/// the command service reads it for every target of a fan-out before storing the commands.
///
/// It is a hint. A connection may end right after it is read; a command then recorded as `sent`
/// on it is in the same place as one written into a connection that dropped: not acknowledged, so
/// sent again on the next connection (the agent's journal drops a copy it already has).
final class LiveEpoch: Sendable {
    private let epoch = Mutex<Int?>(nil)

    /// The live connection's epoch, or nil while the agent is not connected.
    var value: Int? { epoch.withLock { $0 } }

    func set(_ value: Int?) { epoch.withLock { $0 = value } }
}
