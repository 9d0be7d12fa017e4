import Foundation
import RMMProtocol

/// Runs accepted commands with bounded concurrency and a bounded queue, and reports every event.
///
/// The actor only does bookkeeping; processes are spawned, read and waited for in separate tasks,
/// so no call here ever blocks on a child (principle 5).
public actor CommandExecutor {
    /// Every event of every command, in order per command. Single consumer.
    public nonisolated let events: AsyncStream<ExecutionEvent>
    private let continuation: AsyncStream<ExecutionEvent>.Continuation
    private let platform: any CommandPlatform
    private var limits: ExecutorLimits

    /// A command waiting for a free slot.
    private struct Waiting {
        var spec: CommandSpec
    }

    /// A command whose process is (about to be) running.
    private struct Running {
        var stop: StopSwitch
        var task: Task<Void, Never>
    }

    private var queue: [Waiting] = []
    private var running: [String: Running] = [:]
    private var isShutDown = false

    public init(limits: ExecutorLimits, platform: any CommandPlatform = currentCommandPlatform()) {
        self.limits = limits.sanitized
        self.platform = platform
        // Unbounded: events are small or already capped per command, and dropping one would
        // silently lose output or a result.
        (events, continuation) = AsyncStream.makeStream(of: ExecutionEvent.self)
    }

    public var runningCount: Int { running.count }
    public var queuedCount: Int { queue.count }

    /// Never waits: accepts (runs now or queues) or rejects at once.
    public func submit(_ spec: CommandSpec) -> SubmitDecision {
        if isShutDown { return .rejected(reason: "agent is shutting down") }
        if running[spec.commandId] != nil { return .rejected(reason: "duplicate command id \(spec.commandId): already running") }
        if queue.contains(where: { $0.spec.commandId == spec.commandId }) {
            return .rejected(reason: "duplicate command id \(spec.commandId): already queued")
        }
        // A command without a finite timeout could run forever, and every command must end (principle 1).
        guard spec.timeoutSeconds.isFinite, spec.timeoutSeconds > 0 else {
            return .rejected(reason: "invalid timeout \(spec.timeoutSeconds) s: must be positive and finite")
        }
        if queue.isEmpty && running.count < limits.maxConcurrent {
            start(spec)
            return .accepted
        }
        guard queue.count < limits.maxQueued else {
            return .rejected(reason: "queue full: \(running.count) running, \(queue.count) waiting")
        }
        queue.append(Waiting(spec: spec))
        return .accepted
    }

    /// Queued → finished(.cancelled) without running; running → kill the whole process group. Unknown id: no-op.
    public func cancel(commandId: String, reason: String) {
        if let index = queue.firstIndex(where: { $0.spec.commandId == commandId }) {
            queue.remove(at: index)
            continuation.yield(.finished(CommandResult(commandId: commandId, status: .cancelled, reason: reason, finishedAt: ExecutionClock.unixSeconds())))
        } else {
            running[commandId]?.stop.request(.cancelled(reason: reason))
        }
    }

    /// New limits apply to commands started from now on; a raised concurrency starts waiting ones at once.
    public func updateLimits(_ limits: ExecutorLimits) {
        self.limits = limits.sanitized
        startWaiting()
    }

    /// Kills every running process group and waits until they are reaped; queued ones finish .interrupted.
    public func shutdown() async {
        isShutDown = true
        let waiting = queue
        queue.removeAll()
        for command in waiting {
            continuation.yield(.finished(CommandResult(
                commandId: command.spec.commandId, status: .interrupted,
                reason: "agent shut down before the command started", finishedAt: ExecutionClock.unixSeconds()
            )))
        }
        let active = Array(running.values)
        for command in active { command.stop.request(.shutdown) }
        for command in active { await command.task.value }
        continuation.finish()
    }

    private func start(_ spec: CommandSpec) {
        let stop = StopSwitch(platform: platform)
        let continuation = self.continuation
        let runner = CommandRunner(spec: spec, limits: limits, platform: platform, stop: stop) { continuation.yield($0) }
        let task = Task {
            let result = await runner.run()
            self.ended(result)
        }
        running[spec.commandId] = Running(stop: stop, task: task)
    }

    /// The runner's last word: publish the result, then give the slot to the next waiting command.
    private func ended(_ result: CommandResult) {
        running.removeValue(forKey: result.commandId)
        continuation.yield(.finished(result))
        startWaiting()
    }

    private func startWaiting() {
        while !isShutDown, running.count < limits.maxConcurrent, !queue.isEmpty {
            let next = queue.removeFirst()
            // Past its signed start deadline (plus skew) a command must not start: the server may
            // have given up on it, and running it late could surprise an operator.
            let now = ExecutionClock.unixSeconds()
            if now > Double(next.spec.expiresAt) + WorkLimits.clockSkewSeconds {
                continuation.yield(.finished(CommandResult(
                    commandId: next.spec.commandId, status: .rejected,
                    reason: "not started before its signed start deadline (waited in the agent's queue)",
                    finishedAt: now
                )))
                continue
            }
            start(next.spec)
        }
    }
}
