import Foundation
import Glibc
import Logging
import Synchronization
import RMMTestSupport
import Testing
@testable import RMMStore

/// Cluster signals sent together (`PostgresStore.notify` through its group writer): one round
/// trip carries many, each arrives, and in the order given.
@Suite("PostgreSQL grouped NOTIFY", .timeLimit(.minutes(1)))
struct PostgresNotifyGroupTests {
    @Test("signals sent in one round trip arrive in order; signals sent at once all arrive")
    func groupedSignalsArrive() async throws {
        let server = try await PostgresTestServer.shared()
        let location = try PostgresLocation(parsing: try await server.createDatabase(prefix: "notify"))
        let logger = Logger(label: "test.notify")
        let store = try await PostgresStore.open(location, password: nil, logger: logger)
        defer { store.close() }
        let (events, sink) = AsyncStream<PostgresListener.Event>.makeStream()
        let listening = Task { await PostgresListener(location: location, password: nil, logger: logger).run(into: sink) }
        defer { listening.cancel() }
        var heard = events.makeAsyncIterator()
        await knock("knock", until: &heard) { try await store.notify($0) }

        let ordered = (1...50).map { "ordered-\($0)" }
        let results = await store.notifyAll(ordered)
        #expect(results.count == 50)
        var received: [String] = []
        while received.count < 50, let event = await heard.next() {
            if case .payload(let payload) = event, payload.hasPrefix("ordered-") { received.append(payload) }
        }
        #expect(received == ordered)

        // Two hundred at once: every one arrives (most share round trips).
        let before = store.signalWriter.counts
        await withTaskGroup(of: Void.self) { group in
            for index in 1...200 { group.addTask { try? await store.notify("many-\(index)") } }
        }
        var many: Set<String> = []
        while many.count < 200, let event = await heard.next() {
            if case .payload(let payload) = event, payload.hasPrefix("many-") { many.insert(payload) }
        }
        #expect(many == Set((1...200).map { "many-\($0)" }))
        let after = store.signalWriter.counts
        #expect(after.items - before.items == 200)
    }
}

/// The LISTEN connection's own liveness: one that stops answering is dropped and replaced.
@Suite("PostgreSQL LISTEN probe", .timeLimit(.minutes(1)))
struct PostgresListenProbeTests {
    @Test("a LISTEN connection whose backend froze is found by its probe, replaced, and reported as a gap; signals flow again")
    func frozenListenConnectionIsReplaced() async throws {
        let server = try await PostgresTestServer.shared()
        let location = try PostgresLocation(parsing: try await server.createDatabase(prefix: "listenprobe"))
        let listener = PostgresListener(location: location, password: nil, logger: Logger(label: "test.listen-probe"),
                                        probeEvery: .milliseconds(200), answerWithin: .milliseconds(500))
        let (events, sink) = AsyncStream<PostgresListener.Event>.makeStream()
        let listening = Task { await listener.run(into: sink) }
        defer { listening.cancel() }
        var heard = events.makeAsyncIterator()
        // Through psql: the listener's is then the database's only lasting other connection.
        let notify: @Sendable (String) async throws -> Void = { payload in
            _ = try await server.psql("SELECT pg_notify('\(PostgresListener.channel)', '\(payload)')", database: location.database)
        }
        await knock("knock", until: &heard, with: notify)

        // The listener's backend, by its name (a knocking psql's may linger a moment).
        let found = Mutex<Int32?>(nil)
        try await waitUntil("the listener's backend to show alone in pg_stat_activity") {
            let pids = try await server.psql(
                "SELECT pid FROM pg_stat_activity WHERE datname = '\(location.database)' AND application_name = '\(PostgresListener.applicationName)'"
            ).split(whereSeparator: \.isNewline).compactMap { Int32($0.trimmingCharacters(in: .whitespaces)) }
            found.withLock { $0 = pids.count == 1 ? pids[0] : nil }
            return pids.count == 1
        }
        let pid = try #require(found.withLock { $0 })
        kill(pid, SIGSTOP)
        defer { kill(pid, SIGCONT) }
        // Unanswered probe → dropped → a fresh connection listens and says something may have been missed.
        while let event = await heard.next(), event != .gap {}
        kill(pid, SIGCONT)
        await knock("after", until: &heard, with: notify)
    }
}

/// Sends `payload` with `send` every 50 ms until `heard` brings it: the LISTEN may not be set up
/// yet, or is being set up again.
private func knock(_ payload: String, until heard: inout AsyncStream<PostgresListener.Event>.Iterator,
                   with send: @escaping @Sendable (String) async throws -> Void) async {
    let knocking = Task {
        while !Task.isCancelled {
            try? await send(payload)
            try? await Task.sleep(for: .milliseconds(50))
        }
    }
    while let event = await heard.next(), event != .payload(payload) {}
    knocking.cancel()
    _ = await knocking.value
}
