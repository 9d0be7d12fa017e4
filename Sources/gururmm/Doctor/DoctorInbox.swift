import RMMProtocol
import RMMTransport

/// A probe connection's received messages, waited on with a deadline (a link's own event iterator
/// ends for good when a wait on it is cancelled).
actor DoctorInbox {
    enum Wait: Sendable {
        case found(Envelope)
        case closed(LinkClosure)
        case timedOut
    }

    private var envelopes: [Envelope] = []
    private var closure: LinkClosure?
    private var waiter: CheckedContinuation<Void, Never>?

    /// Feeds every event of `link` into a new inbox until the link closes.
    static func draining(_ link: WebSocketLink) -> DoctorInbox {
        let inbox = DoctorInbox()
        Task {
            for await event in link.events {
                await inbox.add(event)
            }
            await inbox.add(.closed(link.closure ?? LinkClosure(code: nil, reason: "connection ended", byPeer: true)))
        }
        return inbox
    }

    private func add(_ event: LinkEvent) {
        switch event {
        case .message(let envelope): envelopes.append(envelope)
        case .messages(let batch): envelopes += batch
        case .closed(let closed): if closure == nil { closure = closed }
        }
        // A hostile server must not make the doctor hold every message it sends.
        if envelopes.count > 64 { envelopes.removeFirst(envelopes.count - 64) }
        wake()
    }

    private func wake() {
        waiter?.resume()
        waiter = nil
    }

    /// The first message `matches` accepts, or the link's end, or nothing within `seconds`.
    func next(within seconds: Double, where matches: @Sendable (Envelope) -> Bool) async -> Wait {
        let deadline = ContinuousClock.now + .milliseconds(Int64(max(0, seconds) * 1000))
        while true {
            if let index = envelopes.firstIndex(where: matches) { return .found(envelopes.remove(at: index)) }
            if let closure { return .closed(closure) }
            if ContinuousClock.now >= deadline { return .timedOut }
            let timer = Task { [weak self] in
                try? await Task.sleep(until: deadline, clock: .continuous)
                await self?.wake()
            }
            await withCheckedContinuation { waiter = $0 }
            timer.cancel()
        }
    }
}
