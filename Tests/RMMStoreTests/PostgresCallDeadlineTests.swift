import Foundation
import Logging
import PostgresNIO
@testable import RMMStore
import RMMProtocol
import RMMTestSupport
import Synchronization
import Testing

/// When a call to PostgreSQL is over, pure: from the clock, whether it holds a connection, and
/// whether the database was found away.
@Suite struct PostgresCallDeadlineRulesTests {
    let limits = PostgresCallDeadline.Limits(answer: .seconds(10), connection: .seconds(120), recheck: .seconds(1))
    let t0 = ContinuousClock.now

    /// When `deadline` says to look again at `now`; nil once it gave a verdict.
    func due(_ deadline: inout PostgresCallDeadline, _ now: ContinuousClock.Instant, away: Bool = false) -> ContinuousClock.Instant? {
        if case .lookAgain(let at) = deadline.check(now: now, databaseAway: away) { return at }
        return nil
    }

    /// The verdict `deadline` gives at `now`, if any.
    func verdict(_ deadline: inout PostgresCallDeadline, _ now: ContinuousClock.Instant, away: Bool = false) -> PostgresCallDeadline.Verdict? {
        if case .late(let verdict) = deadline.check(now: now, databaseAway: away) { return verdict }
        return nil
    }

    @Test func aQueuedCallLooksEverySecondAndGetsNoConnectionAtItsLimitThenNeverStarts() {
        var deadline = PostgresCallDeadline(limits: limits, startedAt: t0)
        #expect(due(&deadline, t0) == t0 + .seconds(1))
        #expect(due(&deadline, t0 + .seconds(119.5)) == t0 + .seconds(120))
        #expect(verdict(&deadline, t0 + .seconds(120)) == .noConnection("no connection to PostgreSQL came within 120 s"))
        let started1 = deadline.connected(at: t0 + .seconds(121))
        #expect(!started1, "a connection after the verdict is not used")
        #expect(verdict(&deadline, t0 + .seconds(121)) != nil, "the verdict stands")
    }

    @Test func theAnswersClockStartsWithTheConnectionSoTheQueueNeverCountsAgainstTheDatabase() {
        var deadline = PostgresCallDeadline(limits: limits, startedAt: t0)
        let started2 = deadline.connected(at: t0 + .seconds(90))
        #expect(started2)
        #expect(due(&deadline, t0 + .seconds(90)) == t0 + .seconds(100))
        #expect(due(&deadline, t0 + .seconds(99), away: true) == t0 + .seconds(100),
                "a call holding a connection is let finish: what it sent may take effect")
        #expect(verdict(&deadline, t0 + .seconds(100)) == .unanswered("PostgreSQL did not answer within 10 s"))
    }

    @Test func aQueuedCallEndsAtOnceWhenTheDatabaseIsFoundAway() {
        var deadline = PostgresCallDeadline(limits: limits, startedAt: t0)
        #expect(verdict(&deadline, t0 + .seconds(2), away: true) == .awayWhileQueued)
        let started3 = deadline.connected(at: t0 + .seconds(3))
        #expect(!started3)
    }

    @Test func aCallOnItsOwnConnectionCountsFromItsStartConnectingIncluded() {
        var deadline = PostgresCallDeadline.answering(limits: limits, from: t0)
        let started4 = deadline.connected(at: t0 + .seconds(4))
        #expect(started4)
        #expect(due(&deadline, t0 + .seconds(4), away: true) == t0 + .seconds(10))
    }

    @Test func anAbandonedCallNeverStartsButOneAlreadyRunningIsNotJudgedByIt() {
        var queued = PostgresCallDeadline(limits: limits, startedAt: t0)
        queued.abandon()
        let started5 = queued.connected(at: t0 + .seconds(1))
        #expect(!started5)
        var running = PostgresCallDeadline(limits: limits, startedAt: t0)
        let started6 = running.connected(at: t0)
        #expect(started6)
        running.abandon()
        #expect(due(&running, t0 + .seconds(1)) == t0 + .seconds(10))
    }

    @Test func reasonsGiveShortLimitsInTenths() {
        #expect(PostgresCallDeadline.seconds(.milliseconds(250)) == "0.3" || PostgresCallDeadline.seconds(.milliseconds(250)) == "0.2")
        #expect(PostgresCallDeadline.seconds(.milliseconds(1500)) == "1.5")
        #expect(PostgresCallDeadline.seconds(.seconds(10)) == "10")
    }
}

/// Calls whose answer never comes, on a real PostgreSQL: a backend stopped with SIGSTOP answers
/// nothing and closes nothing, as a database host that froze or vanished.
@Suite("PostgreSQL calls past their deadline", .serialized)
struct PostgresCallDeadlineTests {
    static let limits = PostgresCallDeadline.Limits(answer: .milliseconds(500), connection: .seconds(30), recheck: .milliseconds(100))
    let logger = Logger(label: "test.call-deadline")

    func open(_ prefix: String) async throws -> (PostgresTestServer, String, PostgresStore) {
        let server = try await PostgresTestServer.shared()
        let url = try await server.createDatabase(prefix: prefix)
        let store = try await PostgresStore.open(try PostgresLocation(parsing: url), password: nil, logger: logger, callLimits: Self.limits)
        return (server, url, store)
    }

    static func backendPid(_ connection: PostgresConnection, _ logger: Logger) async throws -> Int32 {
        for try await pid in try await connection.query("SELECT pg_backend_pid()", logger: logger).decode(Int32.self) { return pid }
        throw StoreError.corrupt("no pid")
    }

    /// Whether the backend `pid` still runs (it exits once it finds its connection closed).
    static func backendGone(_ server: PostgresTestServer, _ pid: Int32) async throws -> Bool {
        try await server.psql("SELECT count(*) FROM pg_stat_activity WHERE pid = \(pid)").trimmingCharacters(in: .whitespacesAndNewlines) == "0"
    }

    @Test("a read whose backend stops answering fails at the answer's limit saying so; its connection is closed and the store answers again")
    func hungReadFailsAtTheDeadline() async throws {
        let (server, _, store) = try await open("deadline_read")
        defer { store.close() }
        let logger = self.logger
        let stopped = Mutex<Int32?>(nil)
        let clock = ContinuousClock()
        let start = clock.now
        do {
            try await store.read { connection in
                let pid = try await Self.backendPid(connection, logger)
                stopped.withLock { $0 = pid }
                kill(pid, SIGSTOP)
                for try await _ in try await connection.query("SELECT 1", logger: logger).decode(Int.self) {}
            }
            Issue.record("a stopped backend answered")
        } catch StoreError.unavailable(let why) {
            #expect(why.contains("PostgreSQL did not answer within 0.5 s"), "\(why)")
        }
        #expect(clock.now - start < .seconds(10), "the caller is told at the deadline, not when the driver gives up")
        let pid = try #require(stopped.withLock { $0 })
        kill(pid, SIGCONT)
        // The store closed the connection it gave up on: the resumed backend finds it closed and exits.
        try await waitUntil("the backend of the abandoned connection exits") { try await Self.backendGone(server, pid) }
        // Found away, then back by its probe: calls answer again. A probe that itself missed the
        // short test deadline (a loaded machine) is tried again here, as a node's lease renewals
        // would every second.
        try await waitUntil("the store answers again") {
            store.probeSoon()
            return (try? await store.read { connection in try await Self.backendPid(connection, logger) }) != nil
        }
    }

    @Test("a body that never returns, and ignores cancellation, fails the call at the deadline")
    func bodyThatNeverReturns() async throws {
        let (_, _, store) = try await open("deadline_body")
        defer { store.close() }
        do {
            try await store.read { _ in
                await withCheckedContinuation { (_: CheckedContinuation<Void, Never>) in }
            }
            Issue.record("returned")
        } catch StoreError.unavailable(let why) {
            #expect(why.contains("did not answer within 0.5 s"), "\(why)")
        }
    }

    @Test("a write whose COMMIT goes unanswered is reported unavailable, and may still commit: it did, once the backend resumed")
    func unansweredCommitMayStillTakeEffect() async throws {
        let (server, url, store) = try await open("deadline_write")
        defer { store.close() }
        let database = try PostgresLocation(parsing: url).database
        try await server.psql("CREATE TABLE late (id INT)", database: database)
        let logger = self.logger
        let stopped = Mutex<Int32?>(nil)
        do {
            try await store.write { connection in
                _ = try await connection.query("INSERT INTO late VALUES (1)", logger: logger)
                let pid = try await Self.backendPid(connection, logger)
                stopped.withLock { $0 = pid }
                kill(pid, SIGSTOP)
            }
            Issue.record("a stopped backend committed")
        } catch StoreError.unavailable(let why) {
            #expect(why.contains("did not answer") && why.contains("may still take effect"), "\(why)")
        }
        #expect(try await server.psql("SELECT count(*) FROM late", database: database).trimmingCharacters(in: .whitespacesAndNewlines) == "0")
        let pid = try #require(stopped.withLock { $0 })
        kill(pid, SIGCONT)
        try await waitUntil("the COMMIT the caller was not told of takes effect") {
            try await server.psql("SELECT count(*) FROM late", database: database).trimmingCharacters(in: .whitespacesAndNewlines) == "1"
        }
    }

    @Test("a lease renewal whose connection stops answering fails at the deadline and marks the database away; the next renewal, on a fresh connection, brings it back")
    func hungLeaseConnection() async throws {
        let (_, _, store) = try await open("deadline_lease")
        defer { store.close() }
        let logger = self.logger
        let claim = NodeClaim(name: "n1", instance: "start", leaseSeconds: 60)
        #expect(try await store.acquireNodeLease(claim) == .acquired)
        let pid = try await store.onLeaseConnection { connection in try await Self.backendPid(connection, logger) }
        kill(pid, SIGSTOP)
        defer { kill(pid, SIGCONT) }
        do {
            _ = try await store.renewNodeLease(claim, draining: false)
            Issue.record("a stopped backend renewed")
        } catch StoreError.unavailable(let why) {
            #expect(why.contains("did not answer within 0.5 s"), "\(why)")
        }
        // Nothing probes from the lease's path: the database stays away until a renewal answers.
        do {
            _ = try await store.liveNodes()
            Issue.record("a call went through while the database counted as away")
        } catch StoreError.unavailable(let why) {
            #expect(why.contains("has not answered for") && why.contains("did not answer within 0.5 s"), "\(why)")
        }
        try await waitUntil("a renewal on a fresh connection answers") {
            (try? await store.renewNodeLease(claim, draining: false)) == .renewed
        }
        _ = try await store.liveNodes()
    }

    @Test("the timer lease, unanswered, says it does not lead at the deadline and gives its connection up; a later try takes the lease again")
    func hungTimerLease() async throws {
        let server = try await PostgresTestServer.shared()
        let url = try await server.createDatabase(prefix: "deadline_timer")
        let location = try PostgresLocation(parsing: url)
        let lease = PostgresTimerLease(location: location, password: nil, logger: logger, answerWithin: .milliseconds(500))
        #expect(await lease.lead() != nil)
        let pidText = try await server.psql(
            "SELECT pid FROM pg_stat_activity WHERE datname = '\(location.database)' AND query LIKE '%clock_timestamp%' AND pid <> pg_backend_pid()"
        )
        let pid = try #require(Int32(pidText.trimmingCharacters(in: .whitespacesAndNewlines)), "the lease's backend: \(pidText)")
        kill(pid, SIGSTOP)
        let clock = ContinuousClock()
        let start = clock.now
        #expect(await lease.lead() == nil)
        #expect(clock.now - start < .seconds(10))
        kill(pid, SIGCONT)
        // Its backend, resumed, finds the connection closed and ends, which frees the lock.
        try await waitUntil("the lease is taken again on a fresh connection") { await lease.lead() != nil }
        await lease.release()
    }
}
