import PostgresNIO
import RMMProtocol
import Synchronization

/// One bounded call's deadline and the connection it holds, shared by the call's worker (which
/// reports its connection) and the race's timer (which judges and, when late, closes it).
final class PostgresCallWatch: Sendable {
    private let state: Mutex<(deadline: PostgresCallDeadline, connection: PostgresConnection?)>

    init(_ deadline: PostgresCallDeadline) {
        state = Mutex((deadline, nil))
    }

    /// The call holds `connection` now; throws if its verdict came first (it must not start).
    func begin(on connection: PostgresConnection, now: ContinuousClock.Instant = .now) throws {
        try state.withLock { state in
            guard state.deadline.connected(at: now) else { throw CancellationError() }
            state.connection = connection
        }
    }

    func check(now: ContinuousClock.Instant, databaseAway: Bool) -> DeadlineCheck<PostgresCallDeadline.Verdict> {
        state.withLock { $0.deadline.check(now: now, databaseAway: databaseAway) }
    }

    /// The caller left: a connection that comes later is not used.
    func abandon() {
        state.withLock { $0.deadline.abandon() }
    }

    /// The connection the call held, if it got one.
    var connection: PostgresConnection? { state.withLock { $0.connection } }
}

/// The answer of a call whose deadline passed (see `PostgresCallDeadline.Verdict`).
private struct LateCall: Error {
    let verdict: PostgresCallDeadline.Verdict
}

extension PostgresStore {
    /// Runs `call` under `deadline` (`PostgresCallDeadline`) without relying on it ending when
    /// cancelled: it runs in a task of its own, and past the deadline the caller gets
    /// `StoreError.unavailable` at once while it is left to end (or not) by itself. `call` reports
    /// its connection to the watch (`begin`) before its first statement. An answer marks the
    /// database reachable; a lost connection, or a deadline passed waiting for one or for the
    /// database's answer, marks it away (`noted`, `late`).
    ///
    /// A write past its deadline has an unknown outcome: it may still commit. Its callers treat
    /// `unavailable` as "maybe", never as "not done" (see `storeError`).
    func bounded<T: Sendable>(_ deadline: PostgresCallDeadline, onLeaseConnection: Bool = false,
                              _ call: sending @escaping (PostgresCallWatch) async throws -> T) async throws -> T {
        let watch = PostgresCallWatch(deadline)
        let reachability = self.reachability
        let outcome = await firstAnswer(judge: { now -> DeadlineCheck<Result<T, any Error>> in
            switch watch.check(now: now, databaseAway: reachability.isAway) {
            case .lookAgain(let instant): return .lookAgain(at: instant)
            case .late(let verdict): return .late(.failure(LateCall(verdict: verdict)))
            }
        }) { () -> Result<T, any Error> in
            do { return .success(try await call(watch)) } catch { return .failure(error) }
        }
        switch outcome {
        case .success(let value)?:
            reachability.answered()
            return value
        case .failure(let late as LateCall)?:
            throw self.late(late.verdict, watch: watch, onLeaseConnection: onLeaseConnection)
        case .failure(let error)?:
            throw noted(error, probe: !onLeaseConnection)
        case nil:
            // The caller was cancelled: that says nothing about the database.
            watch.abandon()
            throw StoreError.unavailable("the call to PostgreSQL was cancelled")
        }
    }

    /// What a caller whose deadline passed is told; the database counts as away unless the call
    /// never got a connection because it already did.
    private func late(_ verdict: PostgresCallDeadline.Verdict, watch: PostgresCallWatch, onLeaseConnection: Bool) -> StoreError {
        switch verdict {
        case .awayWhileQueued:
            do { try reachability.admit() } catch let refusal as StoreError { return refusal } catch {}
            return .unavailable("\(reachability.database) was found away while this call waited for a connection")
        case .noConnection(let why):
            reachability.failed(why)
            if !onLeaseConnection { probeSoon() }
            return .unavailable(why)
        case .unanswered(let why):
            reachability.failed(why)
            // The connection may hang for good: closed, its queries fail (if they can) and the
            // pool replaces it. The lease's own connection is dropped for the same reason.
            if let connection = watch.connection { Task { try? await connection.close() } }
            if onLeaseConnection {
                let leaseConnection = self.leaseConnection
                Task { await leaseConnection.drop() }
            } else {
                probeSoon()
            }
            return .unavailable("\(why) (what was sent may still take effect: look before repeating it)")
        }
    }
}
