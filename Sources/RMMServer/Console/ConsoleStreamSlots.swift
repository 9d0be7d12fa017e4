import Synchronization

/// Live streams open per console session, capped so one session (a tab opened many times, a
/// script) cannot hold an unbounded number of polling streams on the server.
final class ConsoleStreamSlots: Sendable {
    private let open = Mutex<[String: Int]>([:])
    let perSession: Int

    init(perSession: Int = 4) {
        self.perSession = perSession
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
