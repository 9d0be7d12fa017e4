import Foundation
import RMMProtocol
import Testing
#if canImport(RMMAgentExecution)
@testable import RMMAgentExecution
#else
@testable import RMMAgent
#endif

/// Collects an executor's events and lets a test wait, with a deadline, until a condition holds.
actor ExecutionEventLog {
    private(set) var events: [ExecutionEvent] = []
    private(set) var ended = false
    private var waiters: [UUID: (condition: @Sendable ([ExecutionEvent]) -> Bool, continuation: CheckedContinuation<Bool, Never>)] = [:]

    /// Starts consuming `executor.events` (the stream's single consumer).
    static func watching(_ executor: CommandExecutor) -> ExecutionEventLog {
        let log = ExecutionEventLog()
        let events = executor.events
        Task {
            for await event in events { await log.add(event) }
            await log.end()
        }
        return log
    }

    private func add(_ event: ExecutionEvent) {
        events.append(event)
        for (id, waiter) in waiters where waiter.condition(events) {
            waiters.removeValue(forKey: id)
            waiter.continuation.resume(returning: true)
        }
    }

    private func end() {
        ended = true
        for (_, waiter) in waiters { waiter.continuation.resume(returning: waiter.condition(events)) }
        waiters.removeAll()
    }

    /// True once `condition` holds; false if the deadline passes (or the stream ends) first.
    func wait(upTo deadline: Duration = .seconds(30), until condition: @escaping @Sendable ([ExecutionEvent]) -> Bool) async -> Bool {
        if condition(events) { return true }
        if ended { return false }
        let id = UUID()
        return await withCheckedContinuation { continuation in
            waiters[id] = (condition, continuation)
            Task {
                try? await Task.sleep(for: deadline)
                self.expire(id)
            }
        }
    }

    private func expire(_ id: UUID) {
        waiters.removeValue(forKey: id)?.continuation.resume(returning: false)
    }

    /// The command's result, waiting for it up to the deadline.
    func result(_ commandId: String, upTo deadline: Duration = .seconds(30)) async -> CommandResult? {
        _ = await wait(upTo: deadline) { $0.contains { Self.finished($0, commandId) != nil } }
        return events.lazy.compactMap { Self.finished($0, commandId) }.first
    }

    /// Waits for the command's started event and returns its pid.
    func startedPid(_ commandId: String, upTo deadline: Duration = .seconds(30)) async -> Int32? {
        _ = await wait(upTo: deadline) { $0.contains { Self.startedPid($0, commandId) != nil } }
        return events.lazy.compactMap { Self.startedPid($0, commandId) }.first
    }

    func events(of commandId: String) -> [ExecutionEvent] {
        events.filter { Self.commandId($0) == commandId }
    }

    static func finished(_ event: ExecutionEvent, _ commandId: String) -> CommandResult? {
        if case .finished(let result) = event, result.commandId == commandId { return result }
        return nil
    }

    static func startedPid(_ event: ExecutionEvent, _ commandId: String) -> Int32? {
        if case .started(let id, let pid, _) = event, id == commandId { return pid ?? -1 }
        return nil
    }

    static func commandId(_ event: ExecutionEvent) -> String {
        switch event {
        case .started(let id, _, _): return id
        case .output(let output): return output.commandId
        case .finished(let result): return result.commandId
        }
    }
}

func shellSpec(_ id: String, _ text: String, timeout: Double = 30) -> CommandSpec {
    CommandSpec(commandId: id, kind: .shell, text: text, timeoutSeconds: timeout, expiresAt: Int(Date().timeIntervalSince1970) + 300)
}

func utf8Text(_ data: Data) -> String {
    String(decoding: data, as: UTF8.self)
}

/// True once `pid` is no longer a live process (absent, or a zombie waiting for init to reap it).
func processIsGone(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return kill(pid, 0) != 0 }
    guard let close = stat.lastIndex(of: ")") else { return false }
    let state = stat[stat.index(after: close)...].split(separator: " ").first
    return state == "Z" || state == "X"
}

/// Polls a condition about another process (there is no event to wait on for that) until a deadline.
func eventuallyTrue(upTo deadline: Duration = .seconds(30), _ condition: () -> Bool) async -> Bool {
    let clock = ContinuousClock()
    let end = clock.now.advanced(by: deadline)
    while clock.now < end {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return condition()
}

func temporaryTestDirectory() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("rmm-agent-tests-\(UUID().uuidString)").path
}
