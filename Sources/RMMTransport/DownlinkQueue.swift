import Foundation
import NIOConcurrencyHelpers
import NIOCore
import RMMProtocol

/// Server side of the long-poll downlink: data frames a link would have written to its WebSocket
/// wait here, numbered, until the agent fetches them over HTTP (`GET /agent/downlink/ID?after=N`).
public final class DownlinkQueue: Sendable {
    private struct Waiter {
        let after: Int
        let promise: EventLoopPromise<Void>
    }

    private struct State {
        var frames: [(index: Int, data: Data)] = []
        var nextIndex = 1
        var waiters: [Waiter] = []
        var closed = false
        /// Set when the server shuts down: waits return at once.
        var waitsEnded = false
        var ownerAuthenticated = false
    }

    private let state = NIOLockedValueBox(State())

    public init() {}

    /// Adds one frame and wakes pollers waiting for it.
    func append(_ data: Data) {
        let ready = state.withLockedValue { state -> [Waiter] in
            guard !state.closed else { return [] }
            state.frames.append((state.nextIndex, data))
            state.nextIndex += 1
            let ready = state.waiters
            state.waiters.removeAll()
            return ready
        }
        for waiter in ready { waiter.promise.succeed(()) }
    }

    /// The index of the last frame queued (0 before the first).
    public var lastIndex: Int {
        state.withLockedValue { $0.nextIndex - 1 }
    }

    /// Frames after `index`; everything up to `index` is acknowledged by the agent and dropped.
    public func frames(after index: Int) -> [(index: Int, data: Data)] {
        state.withLockedValue { state in
            state.frames.removeAll { $0.index <= index }
            return state.frames
        }
    }

    /// Succeeds when a frame after `index` exists, the queue closes, `endWaits` is called, or `timeout` passes.
    public func wait(after index: Int, on loop: any EventLoop, timeout: TimeAmount) -> EventLoopFuture<Void> {
        let promise = loop.makePromise(of: Void.self)
        let immediate = state.withLockedValue { state -> Bool in
            if state.closed || state.waitsEnded || state.frames.contains(where: { $0.index > index }) { return true }
            state.waiters.append(Waiter(after: index, promise: promise))
            return false
        }
        if immediate {
            promise.succeed(())
        } else {
            loop.scheduleTask(in: timeout) { promise.succeed(()) }
        }
        return promise.futureResult
    }

    public var isClosed: Bool { state.withLockedValue { $0.closed } }

    /// True once the agent on this queue's WebSocket connection has authenticated; the server no
    /// longer counts its polls as unauthenticated connections.
    public var isOwnerAuthenticated: Bool { state.withLockedValue { $0.ownerAuthenticated } }

    public func markOwnerAuthenticated() {
        state.withLockedValue { $0.ownerAuthenticated = true }
    }

    /// The connection ended: wake everyone; later polls get "gone".
    func close() {
        wakeAll { $0.closed = true }
    }

    /// The server is shutting down: pending polls answer with what is queued, later ones at once.
    func endWaits() {
        wakeAll { $0.waitsEnded = true }
    }

    private func wakeAll(marking mark: (inout State) -> Void) {
        let waiters = state.withLockedValue { state -> [Waiter] in
            mark(&state)
            let waiters = state.waiters
            state.waiters.removeAll()
            return waiters
        }
        for waiter in waiters { waiter.promise.succeed(()) }
    }
}

/// Server-wide map from connection id to its long-poll queue.
public final class DownlinkQueues: Sendable {
    private let queues = NIOLockedValueBox<(byId: [String: DownlinkQueue], waitsEnded: Bool)>(([:], false))

    public init() {}

    /// Adds a queue; after `endWaits` its waits end at once too (a connection upgraded just
    /// before a shutdown may register after it).
    public func register(_ id: String, _ queue: DownlinkQueue) {
        let ended = queues.withLockedValue { state -> Bool in
            state.byId[id] = queue
            return state.waitsEnded
        }
        if ended { queue.endWaits() }
    }

    public func remove(_ id: String) {
        queues.withLockedValue { $0.byId[id] = nil }
    }

    public func queue(for id: String) -> DownlinkQueue? {
        queues.withLockedValue { $0.byId[id] }
    }

    /// Ends the waits of every queue (`DownlinkQueue.endWaits`), for a server shutting down.
    public func endWaits() {
        let all = queues.withLockedValue { state -> [DownlinkQueue] in
            state.waitsEnded = true
            return Array(state.byId.values)
        }
        for queue in all { queue.endWaits() }
    }
}
