import Foundation
import PostgresNIO
import RMMProtocol

extension PostgresStore {
    public func insertCommands(_ commands: [CommandRecord], maxPendingPerAgent: Int?, audit: AuditEntry?) async throws {
        throw StoreError.unavailable("PostgresStore.insertCommands is not implemented yet")
    }

    public func transition(commandId: String, to state: CommandState, reason: String?, now: Date, audit: AuditEntry) async throws -> CommandRecord? {
        throw StoreError.unavailable("PostgresStore.transition is not implemented yet")
    }

    public func pendingCommandCounts(agentIds: [String]) async throws -> [String: Int] {
        throw StoreError.unavailable("PostgresStore.pendingCommandCounts is not implemented yet")
    }

    public func commands(agentId: String?, limit: Int) async throws -> [CommandRecord] {
        throw StoreError.unavailable("PostgresStore.commands is not implemented yet")
    }

    public func commandsOverdueForResult(now: Date, slack: Double) async throws -> [CommandRecord] {
        throw StoreError.unavailable("PostgresStore.commandsOverdueForResult is not implemented yet")
    }

    public func commandsToExpire(now: Date) async throws -> [CommandRecord] {
        throw StoreError.unavailable("PostgresStore.commandsToExpire is not implemented yet")
    }

    public func output(commandId: String, stream: StdStream) async throws -> Data {
        throw StoreError.unavailable("PostgresStore.output is not implemented yet")
    }

    public func events(commandId: String) async throws -> [CommandEvent] {
        throw StoreError.unavailable("PostgresStore.events is not implemented yet")
    }
}
