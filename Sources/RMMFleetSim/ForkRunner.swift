import Foundation
import RMMAgent
import RMMProtocol
import Synchronization

/// With `--fork`: runs the fleet's commands for real with `/bin/sh -c`, in the real agent's
/// executor (process groups, timeouts, output caps), one executor for the whole fleet so that
/// `forkConcurrency` bounds the processes of all agents together. Events go back to the agent
/// that received the command.
final class ForkRunner: Sendable {
    private let executor: CommandExecutor
    private let owners = Mutex<[String: SimAgent]>([:])
    /// The newest config version whose output caps and environment the executor uses.
    private let configVersion = Mutex(0)
    private let concurrency: Int

    init(concurrency: Int) {
        self.concurrency = concurrency
        executor = CommandExecutor(limits: Self.limits(AgentConfig.defaults, concurrency: concurrency))
    }

    /// Starts or queues a command; returns why it was refused, or nil.
    func submit(_ spec: CommandSpec, for agent: SimAgent) async -> String? {
        owners.withLock { $0[spec.commandId] = agent }
        if case .rejected(let reason) = await executor.submit(spec) {
            _ = owners.withLock { $0.removeValue(forKey: spec.commandId) }
            return reason
        }
        return nil
    }

    func cancel(commandId: String, reason: String) async {
        await executor.cancel(commandId: commandId, reason: reason)
    }

    /// Uses the output caps and environment of the newest config any agent applied (a fleet has one config).
    func adopt(_ config: AgentConfig) {
        let newer = configVersion.withLock { version -> Bool in
            guard config.version > version else { return false }
            version = config.version
            return true
        }
        guard newer else { return }
        let executor = self.executor
        let limits = Self.limits(config, concurrency: concurrency)
        Task { await executor.updateLimits(limits) }
    }

    /// Hands the executor's events to the agents they belong to, until the executor shuts down.
    func run(fleet: SimFleet) async {
        for await event in executor.events {
            switch event {
            case .started(let commandId, let pid, let time):
                owner(commandId)?.forward(.started(CommandStarted(commandId: commandId, pid: pid, time: time)))
            case .output(let output):
                owner(output.commandId)?.forward(.output(output))
            case .finished(let result):
                let agent = owners.withLock { $0.removeValue(forKey: result.commandId) }
                agent?.finish(result, fleet: fleet)
            }
        }
    }

    /// Kills running process groups; queued commands end `interrupted`.
    func shutdown() async {
        await executor.shutdown()
    }

    private func owner(_ commandId: String) -> SimAgent? {
        owners.withLock { $0[commandId] }
    }

    private static func limits(_ config: AgentConfig, concurrency: Int) -> ExecutorLimits {
        ExecutorLimits(config: config, maxConcurrent: concurrency, maxQueued: 1_000_000)
    }
}
