import Foundation
import PostgresNIO
import RMMProtocol

extension PostgresStore {
    public func undeliveredCommands(agentId: String) async throws -> [CommandRecord] {
        throw StoreError.unavailable("PostgresStore.undeliveredCommands is not implemented yet")
    }

    public func command(id: String) async throws -> CommandRecord? {
        throw StoreError.unavailable("PostgresStore.command is not implemented yet")
    }

    public func transition(commandId: String, to state: CommandState, reason: String?, now: Date) async throws -> CommandRecord? {
        throw StoreError.unavailable("PostgresStore.transition is not implemented yet")
    }

    public func recordReports(_ reports: [CommandReport], agentId: String, now: Date) async throws -> [ReportEffect] {
        throw StoreError.unavailable("PostgresStore.recordReports is not implemented yet")
    }

    public func appendOutput(commandId: String, stream: StdStream, offset: Int, data: Data, cap: Int) async throws -> Bool {
        throw StoreError.unavailable("PostgresStore.appendOutput is not implemented yet")
    }

    public func finish(commandId: String, outcome: CommandOutcome, now: Date) async throws -> CommandRecord? {
        throw StoreError.unavailable("PostgresStore.finish is not implemented yet")
    }
}
