/// Whether a stop asked for by a signal ends the server before its services start or through
/// their graceful shutdown. Pure: `StopSignals` applies its answers.
struct StopRequest: Sendable, Equatable {
    /// What to do when a stop is asked for.
    enum Action: Sendable, Equatable {
        /// The services are not running yet: the start sees the request when it gets there.
        case remember
        /// The services run (or are about to): shut them down gracefully.
        case shutDownServices
    }

    private var requested = false
    private var servicesReady = false

    /// A stop was asked for (SIGTERM or SIGINT).
    mutating func stopRequested() -> Action {
        requested = true
        return servicesReady ? .shutDownServices : .remember
    }

    /// The services are built and about to run; false when a stop came first (start no service).
    mutating func servicesReadyToRun() -> Bool {
        servicesReady = true
        return !requested
    }
}
