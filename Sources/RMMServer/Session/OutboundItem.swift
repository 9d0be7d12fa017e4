import Foundation
import RMMProtocol
import RMMStore

/// A reliable server → agent message waiting in a session's outbox. Each is signed at each
/// (re)send, for the place in the stream it is written at.
enum OutboundItem: Sendable, Equatable {
    case command(PendingCommand)
    case cancel(Cancel)
    case config(AgentConfig)

    var commandId: String? {
        if case .command(let c) = self { return c.id }
        return nil
    }
}

/// What the session needs to (re)send a command.
struct PendingCommand: Sendable, Equatable {
    var id: String
    var kind: CommandSpec.Kind
    var text: String
    var interpreter: String?
    var timeoutSeconds: Double
    var expiresAt: Date

    init(_ record: CommandRecord) {
        id = record.id
        kind = record.kind
        text = record.text
        interpreter = record.interpreter
        timeoutSeconds = record.timeoutSeconds
        expiresAt = record.expiresAt
    }

    /// The command as the agent receives it, unsigned; its start deadline is the expiry.
    var spec: CommandSpec {
        CommandSpec(
            commandId: id, kind: kind, text: text, interpreter: interpreter,
            timeoutSeconds: timeoutSeconds, expiresAt: Int(expiresAt.timeIntervalSince1970.rounded(.up))
        )
    }
}
