import Foundation
import Logging
import PostgresNIO
import RMMProtocol

/// LISTENs on one channel on a dedicated connection and reconnects by itself with backoff; after
/// every reconnect it reports a `gap` (notifications sent meanwhile are lost).
///
/// The connection is asked to answer (`SELECT 1`) every `probeEvery`: a LISTEN connection that
/// went half-open (a NAT or firewall that forgot it, a database host that froze) hears nothing
/// and says nothing, and without the probe the node would never learn that its signals stopped.
/// Unanswered within `answerWithin`, it is dropped and a new one listens, after a `gap`.
public struct PostgresListener: Sendable {
    /// What the listener hears.
    public enum Event: Sendable, Equatable {
        case payload(String)
        /// The connection was lost and is listening again: anything may have been missed.
        case gap
    }

    /// The channel every node listens on and notifies.
    public static let channel = "gururmm_signals"
    /// The LISTEN connection's `application_name`.
    public static let applicationName = "gururmm signals"

    let location: PostgresLocation
    let password: String?
    let logger: Logger
    let probeEvery: Duration
    let answerWithin: Duration

    public init(location: PostgresLocation, password: String?, logger: Logger, probeEvery: Duration = .seconds(15), answerWithin: Duration = .seconds(10)) {
        self.location = location
        self.password = password
        self.logger = logger
        self.probeEvery = probeEvery
        self.answerWithin = answerWithin
    }

    /// Listens until the task is cancelled, yielding what it hears.
    public func run(into continuation: AsyncStream<Event>.Continuation) async {
        var backoff = ListenBackoff()
        var first = true
        while !Task.isCancelled {
            do {
                let connection = try await PostgresDedicatedConnection.connect(location, password: password, logger: logger, purpose: Self.applicationName)
                defer { Task { try? await connection.close() } }
                try await connection.listen(on: Self.channel) { notifications in
                    if !first { continuation.yield(.gap) }
                    first = false
                    backoff.reset()
                    throw ListenEnded(why: await listen(notifications, on: connection, into: continuation))
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

    /// Passes on what `notifications` bring until the connection fails or stops answering its
    /// probes; returns why it ended. Neither the reader nor the probe is awaited once the other
    /// ended: on a frozen connection both may hang until it is closed.
    private func listen(_ notifications: PostgresNotificationSequence, on connection: PostgresConnection,
                        into continuation: AsyncStream<Event>.Continuation) async -> String {
        let (endings, ending) = AsyncStream<String>.makeStream()
        let reader = Task {
            do {
                for try await notification in notifications { continuation.yield(.payload(notification.payload)) }
                ending.yield("the notification stream ended")
            } catch {
                ending.yield(PostgresStore.describe(error))
            }
        }
        let prober = Task { [probeEvery, answerWithin, logger] in
            ending.yield(await Self.probe(connection, every: probeEvery, answerWithin: answerWithin, logger: logger))
        }
        var first = endings.makeAsyncIterator()
        let why = await first.next() ?? "stopped"
        reader.cancel()
        prober.cancel()
        ending.finish()
        return why
    }

    /// Asks `connection` to answer every `every`; returns when it did not within `answerWithin`.
    private static func probe(_ connection: PostgresConnection, every: Duration, answerWithin: Duration, logger: Logger) async -> String {
        while !Task.isCancelled {
            try? await Task.sleep(for: every)
            if Task.isCancelled { break }
            let answered = await firstAnswer(before: .now + answerWithin, late: false) {
                do {
                    for try await _ in try await connection.query("SELECT 1", logger: logger) {}
                    return true
                } catch {
                    return false
                }
            }
            if !answered { return "the signal connection did not answer a probe within \(answerWithin)" }
        }
        return "stopped"
    }
}

/// Why a LISTEN connection was given up.
struct ListenEnded: Error, CustomStringConvertible {
    let why: String
    var description: String { why }
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
                // A lone signal, the common case on a quiet node, takes the simplest statement.
                let sent = try await connection.query(payloads.count == 1 ? "SELECT pg_notify(\(PostgresListener.channel), \(payloads[0]))" : """
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
