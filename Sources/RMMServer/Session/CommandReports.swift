import Foundation
import RMMProtocol
import RMMStore

/// What an agent's message about a command means, pure: the store step it asks for (`report`),
/// whether it cannot be applied at all (`rejectedResult`), and what follows once the store said
/// what it did (`follow`). The one place where an agent's command report is interpreted.
enum CommandReports {
    /// The store step for an agent's message about a command; nil for anything else (and for a
    /// result that names no end state).
    static func report(for message: Message, outputCap: Int) -> CommandReport? {
        switch message {
        case .commandAck(let ack):
            return .acknowledged(commandId: ack.commandId, reason: ack.duplicate ? "agent already had it (retransmission)" : nil)
        case .started(let started):
            return .started(commandId: started.commandId, reason: started.pid.map { "pid \($0)" })
        case .output(let output):
            return .output(commandId: output.commandId, stream: output.stream, offset: output.offset, data: output.data, cap: outputCap)
        case .result(let result):
            guard rejectedResult(message) == nil else { return nil }
            return .finished(commandId: result.commandId, outcome: CommandOutcome(
                state: result.status, reason: result.reason, exitCode: result.exitCode, signal: result.signal,
                stdout: result.stdout, stderr: result.stderr,
                stdoutTruncated: result.stdoutTruncated, stderrTruncated: result.stderrTruncated
            ).capped(at: outputCap))
        default:
            return nil
        }
    }

    /// Why a result cannot be applied at all (it names no end state), or nil.
    static func rejectedResult(_ message: Message) -> String? {
        guard case .result(let result) = message, !result.status.isTerminal || result.status == .expired else { return nil }
        return "agent reported non-terminal status \(result.status.rawValue) as a result for \(LogSafe.text(result.commandId)); ignored"
    }

    /// What follows from one stored report of agent `agentId`, and whether the command changed.
    static func follow(_ message: Message, _ effect: ReportEffect, agentId: String) -> (actions: [InboundMachine.Action], changed: Bool) {
        guard let commandId = message.reportedCommandId else { return ([], false) }
        switch effect {
        case .notOwned:
            // An agent may only report on its own commands: a malicious agent must not be able to
            // complete, fail or write output into another agent's work.
            return ([.warn("agent \(agentId) reported on command \(LogSafe.text(commandId)), which is not its own; ignored")], false)
        case .unknown:
            // A command this server does not know (e.g. its database was replaced) can never
            // succeed: log it and move on rather than ask for it forever.
            return ([.warn("dropped \(message.type) for command \(LogSafe.text(commandId)): unknown to this server, or its record is unreadable")], false)
        case .changed(let record):
            guard case .result(let result) = message, record.state.isTerminal else { return ([], true) }
            if result.status == .rejected {
                // Includes refused signatures: a path that altered work shows up here, on both sides.
                return ([.warn("agent rejected command \(record.id): \(LogSafe.text(result.reason ?? "no reason given"))"), .commandEnded(record)], true)
            }
            return ([.commandEnded(record)], true)
        case .unchanged(let record):
            switch message {
            case .commandAck(let ack) where !ack.duplicate && (record.state == .expired || record.state == .cancelled):
                // The agent took a command the server had already given up on: make it stand down.
                return ([
                    .warn("agent acknowledged \(LogSafe.text(commandId)) after it ended \(record.state.rawValue); sending cancel"),
                    .cancel(Cancel(commandId: commandId, reason: "command had already \(record.state.rawValue) on the server")),
                ], false)
            case .result(let result) where record.state != result.status:
                return ([.warn("late result for \(LogSafe.text(commandId)): agent says \(result.status.rawValue), server already recorded \(record.state.rawValue)")], false)
            default:
                return ([], false)
            }
        }
    }
}
