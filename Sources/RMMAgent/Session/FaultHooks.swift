import Foundation
import NIOConcurrencyHelpers

/// Faults the agent can inject into itself, for tests of the system's diagnosis (never on by default).
///
/// `GURURMM_FAULT_STALL_CONSUMER=N`: once per process, the message consumer stops (as a deadlocked
/// receive loop would, H2) right before it handles the N-th command it receives, until the watchdog
/// cancels it.
public struct FaultHooks: Sendable {
    private let stallAtCommand: Int?
    private let seen = NIOLockedValueBox((commands: 0, stalled: false))

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        stallAtCommand = environment["GURURMM_FAULT_STALL_CONSUMER"].flatMap(Int.init)
    }

    /// Called by the consumer before it handles a command; suspends (until cancelled) when the fault fires.
    func beforeCommand() async {
        guard let stallAtCommand else { return }
        let fire = seen.withLockedValue { state -> Bool in
            state.commands += 1
            guard !state.stalled, state.commands == stallAtCommand else { return false }
            state.stalled = true
            return true
        }
        guard fire else { return }
        // Parks the consumer: no thread is blocked, but nothing after this runs until the watchdog
        // cancels it (a sleep that long only ever ends by cancellation).
        try? await Task.sleep(for: .seconds(365 * 86_400))
    }
}
