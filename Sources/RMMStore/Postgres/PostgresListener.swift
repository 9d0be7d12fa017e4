import Foundation
import Logging
import PostgresNIO

/// LISTENs on one channel on a dedicated connection and reconnects by itself with backoff; after
/// every reconnect it reports a `gap` (notifications sent meanwhile are lost).
public struct PostgresListener: Sendable {
    /// What the listener hears.
    public enum Event: Sendable, Equatable {
        case payload(String)
        /// The connection was lost and is listening again: anything may have been missed.
        case gap
    }

    /// The channel every node listens on and notifies.
    public static let channel = "gururmm_signals"

    let location: PostgresLocation
    let password: String?
    let logger: Logger

    public init(location: PostgresLocation, password: String?, logger: Logger) {
        self.location = location
        self.password = password
        self.logger = logger
    }

    /// Listens until the task is cancelled, yielding what it hears.
    public func run(into continuation: AsyncStream<Event>.Continuation) async {
        var backoff = ListenBackoff()
        var first = true
        while !Task.isCancelled {
            do {
                let connection = try await PostgresDedicatedConnection.connect(location, password: password, logger: logger)
                defer { Task { try? await connection.close() } }
                try await connection.listen(on: Self.channel) { notifications in
                    if !first { continuation.yield(.gap) }
                    first = false
                    backoff.reset()
                    for try await notification in notifications { continuation.yield(.payload(notification.payload)) }
                }
            } catch {
                if Task.isCancelled { break }
                logger.warning("cluster signal connection lost: \(PostgresStore.describe(error)); reconnecting")
            }
            first = false
            try? await Task.sleep(for: .milliseconds(backoff.next()))
        }
        continuation.finish()
    }
}

/// Reconnection delays: 100 ms doubling to 5 s, with up to 50 % jitter so nodes do not reconnect in step.
struct ListenBackoff {
    private var attempt = 0

    mutating func reset() { attempt = 0 }

    mutating func next() -> Int {
        let base = min(5_000, 100 << min(attempt, 6))
        attempt += 1
        return base / 2 + Int.random(in: 0...(base / 2))
    }
}

extension PostgresStore {
    /// Sends `payload` to every listener on `PostgresListener.channel` (on commit: here at once).
    /// Signals sent while one is on its way go together in the next round trip (`signalWriter`).
    public func notify(_ payload: String) async throws {
        try await signalWriter.submit(payload, bytes: payload.utf8.count) { batch in await self.notifyAll(batch) }
    }

    /// Sends `payloads` in one statement, in order (PostgreSQL delivers one transaction's
    /// notifications in the order sent, and folds identical ones into one: harmless, as every
    /// signal is a hint that says the same the second time).
    func notifyAll(_ payloads: [String]) async -> [Result<Void, any Error>] {
        do {
            try await read { connection in
                let sent = try await connection.query("""
                    SELECT pg_notify(\(PostgresListener.channel), p) FROM unnest(\(payloads)::text[]) WITH ORDINALITY AS s(p, n) ORDER BY n
                    """, logger: logger)
                for try await _ in sent {}
            }
            return payloads.map { _ in .success(()) }
        } catch {
            return payloads.map { _ in .failure(error) }
        }
    }
}
