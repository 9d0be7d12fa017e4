import Synchronization

/// The proxy's current fault mode, shared by the proxy and every forwarder.
final class FaultModeSwitch: Sendable {
    // Mutex (not NIOLockedValueBox) because this module depends only on NIOCore and NIOPosix;
    // it is read on every chunk from event-loop threads and written from test tasks.
    private let mode: Mutex<FaultMode>

    init(_ mode: FaultMode) {
        self.mode = Mutex(mode)
    }

    var current: FaultMode {
        mode.withLock { $0 }
    }

    func set(_ newMode: FaultMode) {
        mode.withLock { $0 = newMode }
    }
}

/// Sent through every proxied channel's pipeline after a mode change, so a paused forwarder
/// re-evaluates whether to read again.
struct FaultModeChanged: Sendable {}
