/// Polls `condition` until it returns true, or throws `WaitTimeoutError` naming `what` once
/// `timeout` has passed. This is how tests synchronise with other processes and sockets:
/// a bare sleep either wastes time or flakes.
public func waitUntil(
    _ what: String,
    timeout: Duration = .seconds(30),
    poll: Duration = .milliseconds(50),
    _ condition: @Sendable () async throws -> Bool
) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: timeout)
    while true {
        if try await condition() {
            return
        }
        let now = clock.now
        if now >= deadline {
            throw WaitTimeoutError(what: what, timeout: timeout)
        }
        // Never sleep past the deadline, so the last check happens close to it.
        try await Task.sleep(until: min(now.advanced(by: poll), deadline), clock: clock)
    }
}

/// Thrown by `waitUntil` when its condition did not become true in time.
public struct WaitTimeoutError: Error, CustomStringConvertible, Sendable {
    /// What was being waited for.
    public let what: String
    /// How long was waited.
    public let timeout: Duration

    public var description: String {
        "timed out after \(timeout) waiting for \(what)"
    }
}
