import Foundation
import RMMProtocol

/// What an agent reports about one of its commands. `DeliveryStore.recordReports` applies a run of them
/// (everything one connection read delivered) in one write.
public enum CommandReport: Sendable, Equatable {
    /// The agent has the command (`command_ack`): `delivered`.
    case acknowledged(commandId: String, reason: String?)
    /// The agent started it (`started`): `running`.
    case started(commandId: String, reason: String?)
    /// Live output, accepted only at exactly the stored length and within `cap`.
    case output(commandId: String, stream: StdStream, offset: Int, data: Data, cap: Int)
    /// The agent's result: the terminal state and the whole output.
    case finished(commandId: String, outcome: CommandOutcome)

    /// The command the report is about.
    public var commandId: String {
        switch self {
        case .acknowledged(let id, _), .started(let id, _), .output(let id, _, _, _, _), .finished(let id, _): return id
        }
    }
}

/// What one `CommandReport` did.
public enum ReportEffect: Sendable, Equatable {
    /// The command changed; its record after the change.
    case changed(CommandRecord)
    /// Nothing changed (a duplicate, a move the lifecycle refuses, output at the wrong offset or
    /// over the cap); the command as it stands.
    case unchanged(CommandRecord)
    /// No command with that id.
    case unknown
    /// The command is another agent's; nothing was read out or changed.
    case notOwned
}
