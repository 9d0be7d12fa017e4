import Synchronization

/// WebSocket frames the fault proxy has forwarded, dropped and corrupted, totalled over its connections.
public struct FrameCounts: Sendable, Equatable {
    /// Whole frames passed on client to server (including corrupted ones: they were delivered).
    public var forwardedUplink = 0
    /// Whole frames passed on server to client (including corrupted ones).
    public var forwardedDownlink = 0
    /// Frames a mode discarded, client to server.
    public var droppedUplink = 0
    /// Frames a mode discarded, server to client.
    public var droppedDownlink = 0
    /// Frames whose payload was replaced with garbage.
    public var corrupted = 0
    /// Frames altered by `tamperMessages` (counted once, in `forwardedDownlink` too).
    public var tampered = 0
    /// Command frames sent twice by `replayCommands` (counted once in `forwardedDownlink`).
    public var replayed = 0
    /// Forged command frames injected by `forgeCommandsAhead` (not counted in `forwardedDownlink`).
    public var forged = 0
    /// Frames one of whose numbers `extremeNumbersDownlink` replaced (counted in `forwardedDownlink` too).
    public var bent = 0

    public init() {}

    /// Frames forwarded in `direction`.
    public func forwarded(_ direction: FaultDirection) -> Int {
        direction == .uplink ? forwardedUplink : forwardedDownlink
    }

    /// Frames dropped in `direction`.
    public func dropped(_ direction: FaultDirection) -> Int {
        direction == .uplink ? droppedUplink : droppedDownlink
    }
}

/// The proxy-wide, thread-safe tally behind `FrameCounts`, updated by every connection's filters.
final class FrameStatistics: Sendable {
    private let counts = Mutex(FrameCounts())

    var snapshot: FrameCounts {
        counts.withLock { $0 }
    }

    func recordForwarded(_ direction: FaultDirection, corrupted: Bool) {
        counts.withLock { counts in
            switch direction {
            case .uplink: counts.forwardedUplink += 1
            case .downlink: counts.forwardedDownlink += 1
            }
            if corrupted { counts.corrupted += 1 }
        }
    }

    func recordRewritten(_ rewrite: FrameRewrite) {
        counts.withLock { counts in
            switch rewrite {
            case .tamper: counts.tampered += 1
            case .replay: counts.replayed += 1
            case .forgeAhead: counts.forged += 1
            case .extremeNumber: counts.bent += 1
            }
        }
    }

    func recordDropped(_ direction: FaultDirection) {
        counts.withLock { counts in
            switch direction {
            case .uplink: counts.droppedUplink += 1
            case .downlink: counts.droppedDownlink += 1
            }
        }
    }
}
