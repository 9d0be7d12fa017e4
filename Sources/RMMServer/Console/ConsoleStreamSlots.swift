import Synchronization

/// Live streams open per console session, capped so one session (a tab opened many times, a
/// script) cannot hold an unbounded number of polling streams on the server.
final class ConsoleStreamSlots: Sendable {
    private let open = Mutex<[String: Int]>([:])
    let perSession: Int

    init(perSession: Int = 4) {
        self.perSession = perSession
    }

    /// Takes a slot for `session` as a lease that gives it back when the stream's body drops it
    /// (ended, failed, or never started because the client left before the response head was
    /// written); nil when the session already holds `perSession` streams.
    func lease(_ session: String) -> Lease? {
        take(session) ? Lease(slots: self, session: session) : nil
    }

    /// One stream's slot; released once, when the last reference goes.
    final class Lease: Sendable {
        private let slots: ConsoleStreamSlots
        private let session: String

        fileprivate init(slots: ConsoleStreamSlots, session: String) {
            self.slots = slots
            self.session = session
        }

        deinit { slots.release(session) }
    }

    /// Takes a slot for `session`; false when it already holds `perSession` streams.
    func take(_ session: String) -> Bool {
        open.withLock { open in
            guard open[session, default: 0] < perSession else { return false }
            open[session, default: 0] += 1
            return true
        }
    }

    /// Gives a slot back when its stream ends.
    func release(_ session: String) {
        open.withLock { open in
            let left = open[session, default: 1] - 1
            open[session] = left > 0 ? left : nil
        }
    }
}
