import Logging
import ServiceLifecycle
import UnixSignals
import Synchronization

/// SIGTERM and SIGINT as a graceful stop from the first moment of `GuruServer.run`, not only once
/// its `ServiceGroup` runs: a signal that arrives while the store opens ends the start cleanly
/// (exit 0) instead of killing the process with the signal's default action.
final class StopSignals: Sendable {
    private struct State {
        var request = StopRequest()
        var group: ServiceGroup?
        var listener: Task<Void, Never>?
    }

    private let state = Mutex(State())
    private let logger: Logger

    private init(logger: Logger) {
        self.logger = logger
    }

    /// Traps `signals` from now on; call `stop()` once the server returns.
    static func trap(_ signals: [UnixSignal], logger: Logger) async -> StopSignals {
        let stops = StopSignals(logger: logger)
        // Awaits the signal sources' registration, so no signal after this returns is missed.
        let sequence = await UnixSignalsSequence(trapping: signals)
        let listener = Task {
            for await signal in sequence { await stops.requestStop(by: signal) }
        }
        stops.state.withLock { $0.listener = listener }
        return stops
    }

    /// Hands over the group about to run; false when a stop came first, so the start ends here.
    func shouldRun(_ group: ServiceGroup) -> Bool {
        state.withLock { state in
            state.group = group
            return state.request.servicesReadyToRun()
        }
    }

    /// Stops listening for signals.
    func stop() {
        state.withLock { $0.listener }?.cancel()
    }

    private func requestStop(by signal: UnixSignal) async {
        let (action, group) = state.withLock { state in (state.request.stopRequested(), state.group) }
        // Logged once the request is recorded: a start that gets past the store after this line stops.
        logger.info("received \(signal): stopping gracefully")
        if action == .shutDownServices { await group?.triggerGracefulShutdown() }
    }
}
