import Foundation
import Logging
import RMMAgent
import RMMProtocol
import RMMTestSupport
import RMMTransport
import Synchronization

/// An agent built from the library and run inside the test process: how a test injects a fault the
/// shipped `gururmm agent` has no switch for (its consumer stopping, say).
final class InProcessAgent: Sendable {
    let name: String
    let stateDirectory: String
    private let task: Task<Void, Never>
    /// Why the agent stopped on its own, if it did.
    private let failure: FailureBox

    private init(name: String, stateDirectory: String, task: Task<Void, Never>, failure: FailureBox) {
        self.name = name
        self.stateDirectory = stateDirectory
        self.task = task
        self.failure = failure
    }

    /// Starts the agent on a new state directory; `configure` tunes its options (the CLI's flags),
    /// `beforeHandling` runs before each server message is handled.
    static func start(
        name: String, server: String, enrollToken: String?,
        configure: (inout AgentOptions) -> Void = { _ in },
        beforeHandling: MessageGate? = nil
    ) throws -> InProcessAgent {
        let state = try freeTemporaryDirectory(prefix: "gururmm-agent-\(name)")
        var options = AgentOptions(endpoint: try ServerEndpoint(parsing: server), stateDirectory: state,
                                   enrollToken: enrollToken, name: name, version: "test")
        options.allowPlain = server.hasPrefix("ws:")
        options.maxBackoff = 1
        configure(&options)
        let frozen = options
        var logger = Logger(label: "e2e.agent.\(name)") { label in StreamLogHandler.standardError(label: label) }
        logger.logLevel = Logger.Level.notice
        let failure = FailureBox()
        let task = Task {
            do {
                try await AgentRuntime.run(options: frozen, logger: logger, beforeHandling: beforeHandling)
            } catch {
                failure.set("\(error)")
            }
        }
        return InProcessAgent(name: name, stateDirectory: state, task: task, failure: failure)
    }

    /// Why the agent stopped on its own; nil while it runs (or after `stop`).
    var stoppedBecause: String? { failure.value }

    /// Stops the agent as a signal would (its runtime is cancelled) and waits for it to end.
    func stop() async {
        task.cancel()
        await task.value
    }
}

/// Why an in-process agent stopped, written by its task and read by the test.
private final class FailureBox: Sendable {
    private let box = Mutex<String?>(nil)
    func set(_ reason: String) { box.withLock { $0 = reason } }
    var value: String? { box.withLock { $0 } }
}

/// A fault for `InProcessAgent`: the consumer stops right before it handles the `n`-th command it
/// receives (as a deadlocked receive loop would, H2), once, until the session is torn down.
func stallConsumer(atCommand n: Int) -> MessageGate {
    let seen = Mutex((commands: 0, stalled: false))
    return { envelope in
        guard case .command = envelope.message else { return }
        let fire = seen.withLock { state -> Bool in
            state.commands += 1
            guard !state.stalled, state.commands == n else { return false }
            state.stalled = true
            return true
        }
        guard fire else { return }
        // Parks the consumer without blocking a thread; only the watchdog's cancellation ends it.
        try? await Task.sleep(for: .seconds(365 * 86_400))
    }
}
