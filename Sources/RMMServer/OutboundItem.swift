import Foundation
import RMMProtocol
import RMMStore

/// A reliable server → agent message waiting in a session's outbox. Commands are rebuilt into a
/// `CommandSpec` at each (re)send so the agent always gets the validity that is left.
enum OutboundItem: Sendable {
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

    func spec(now: Date) -> CommandSpec {
        CommandSpec(
            commandId: id, kind: kind, text: text, interpreter: interpreter,
            timeoutSeconds: timeoutSeconds, validForSeconds: max(0, expiresAt.timeIntervalSince(now)),
            expiresAt: Int(expiresAt.timeIntervalSince1970.rounded(.up))
        )
    }
}
