import NIOConcurrencyHelpers

/// The received events of one link, in arrival order, for one consumer at a time.
///
/// The consumer either pulls (`next()`, through `WebSocketLink.events`) or, once it calls
/// `deliver(to:)`, is pushed every later event from a short-lived task that exists only while
/// events wait. The push mode is for servers with many idle connections: a task parked in
/// `next()` keeps every slab its async stack ever grew to until it ends (the Swift task allocator
/// frees slabs only with the task), which measured about 33 KiB per idle agent connection.
///
/// Like `AsyncStream`: buffered without limit (the link's backlog check bounds it), `finish()`
/// lets buffered events drain and then ends the sequence, and cancelling a waiting `next()`
/// ends the sequence too (buffered events still come out first).
final class LinkInbox: Sendable {
    typealias Consumer = @Sendable (LinkEvent) async -> Void

    private struct State {
        /// Events not yet handed out; `head` is the next one (pull mode pops from the front).
        var buffer: [LinkEvent] = []
        var head = 0
        /// A pull consumer waiting for the next event (only while `buffer` is empty).
        var waiter: CheckedContinuation<LinkEvent?, Never>?
        /// No more events will be accepted.
        var finished = false
        /// The push consumer; cleared once the last event was handed to it (it usually captures
        /// the link, which holds this inbox).
        var consumer: Consumer?
        /// A push task is running (or about to) and will see every event appended meanwhile.
        var draining = false

        var isEmpty: Bool { head >= buffer.count }

        mutating func popFirst() -> LinkEvent? {
            guard head < buffer.count else { return nil }
            let event = buffer[head]
            head += 1
            if head == buffer.count {
                buffer.removeAll(keepingCapacity: true)
                head = 0
            }
            return event
        }

        /// Everything waiting, leaving the buffer without storage.
        mutating func takeAll() -> [LinkEvent] {
            let all = head == 0 ? buffer : Array(buffer[head...])
            buffer = []
            head = 0
            return all
        }
    }

    private let state = NIOLockedValueBox(State())

    /// Appends an event, or hands it straight to a waiting consumer. Never waits.
    func yield(_ event: LinkEvent) {
        enum Action {
            case none
            case resume(CheckedContinuation<LinkEvent?, Never>)
            case drain(Consumer)
        }
        let action: Action = state.withLockedValue { state in
            guard !state.finished else { return .none }
            if let consumer = state.consumer {
                state.buffer.append(event)
                if state.draining { return .none }
                state.draining = true
                return .drain(consumer)
            }
            if let waiter = state.waiter {
                state.waiter = nil
                return .resume(waiter)
            }
            state.buffer.append(event)
            return .none
        }
        switch action {
        case .none: break
        case .resume(let waiter): waiter.resume(returning: event)
        case .drain(let consumer): startDraining(consumer)
        }
    }

    /// No more events: a waiting `next()` gets nil once the buffer is empty.
    func finish() {
        let waiter = state.withLockedValue { state -> CheckedContinuation<LinkEvent?, Never>? in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }

    /// The next event, or nil once finished and drained (or cancelled, or in push mode).
    func next() async -> LinkEvent? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<LinkEvent?, Never>) in
                let ready: LinkEvent?? = state.withLockedValue { state in
                    if let event = state.popFirst() { return .some(event) }
                    if state.finished || state.consumer != nil || state.waiter != nil { return .some(nil) }
                    state.waiter = continuation
                    return .none
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            finish()
        }
    }

    /// Switches to push mode: every waiting and later event goes to `consumer`, one at a time and in
    /// order, each awaited before the next. Call at most once, while no `next()` is waiting.
    func deliver(to consumer: @escaping Consumer) {
        let start = state.withLockedValue { state -> Bool in
            guard state.consumer == nil, state.waiter == nil else { return false }
            if state.isEmpty {
                // Nothing waits and nothing may come: keep no closure (and no buffer storage).
                state.buffer = []
                state.head = 0
                if state.finished { return false }
            }
            state.consumer = consumer
            guard !state.isEmpty, !state.draining else { return false }
            state.draining = true
            return true
        }
        if start { startDraining(consumer) }
    }

    private func startDraining(_ consumer: @escaping Consumer) {
        // Unstructured on purpose: it must end as soon as the buffer is empty (see the type's doc).
        Task { await self.drain(consumer) }
    }

    private func drain(_ consumer: Consumer) async {
        while true {
            let batch = state.withLockedValue { state -> [LinkEvent]? in
                guard !state.isEmpty else {
                    state.draining = false
                    state.buffer = []
                    if state.finished { state.consumer = nil }
                    return nil
                }
                return state.takeAll()
            }
            guard let batch else { return }
            for event in batch { await consumer(event) }
        }
    }
}
