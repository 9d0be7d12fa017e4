import Foundation
import Logging
import RMMStore
import RMMTestSupport
import Testing
@testable import RMMServer

/// Signals over a real PostgreSQL's LISTEN/NOTIFY, and the timer lease's advisory lock.
@Suite("PostgresSignals", .timeLimit(.minutes(1)))
struct PostgresSignalsTests {
    static let logger = Logger(label: "test.signals")

    struct Node {
        let store: PostgresStore
        let signals: PostgresSignals
        let task: Task<Void, Never>

        static func open(_ location: PostgresLocation) async throws -> Node {
            let store = try await PostgresStore.open(location, password: nil, logger: logger)
            let signals = PostgresSignals(store: store, listener: PostgresListener(location: location, password: nil, logger: logger), logger: logger)
            return Node(store: store, signals: signals, task: Task { await signals.run() })
        }

        func stop() {
            task.cancel()
            store.close()
        }
    }

    /// Publishes `signal` from `from` until `to` hears something (its LISTEN may not be set up
    /// yet), and returns the first signal `to` hears.
    static func firstHeard(by to: Node, publishing signal: ClusterSignal, from: Node) async -> ClusterSignal? {
        let publisher = Task {
            while !Task.isCancelled {
                await from.signals.publish(signal)
                try? await Task.sleep(for: .milliseconds(50))
            }
        }
        defer { publisher.cancel() }
        var iterator = to.signals.incoming().makeAsyncIterator()
        return await iterator.next()
    }

    @Test("a signal reaches the other node, never its sender; hostile payloads are dropped; a lost connection is a rescan")
    func signalsCrossNodes() async throws {
        let server = try await PostgresTestServer.start()
        defer { Task { try? await server.stop(immediate: true) } }
        let location = try PostgresLocation(parsing: try await server.createDatabase(prefix: "signals"))
        let a = try await Node.open(location)
        let b = try await Node.open(location)
        defer { a.stop(); b.stop() }

        #expect(await Self.firstHeard(by: b, publishing: .evict(agentId: "ag_1", reason: "moved"), from: a) == .evict(agentId: "ag_1", reason: "moved"))
        // Hostile payloads from any client of the database, then a good one: only the good one arrives.
        var heard = b.signals.incoming().makeAsyncIterator()
        for payload in ["garbage", #"{"v":1,"n":"n_x","k":"revoke","a":["ag_1'--"]}"#, String(repeating: "x", count: 7_999)] {
            let quoted = payload.replacingOccurrences(of: "'", with: "''")
            try await server.psql("SELECT pg_notify('\(PostgresListener.channel)', '\(quoted)')", database: location.database)
        }
        await a.signals.publish(.revoke(agentId: "ag_2"))
        var next = await heard.next()
        while case .evict? = next { next = await heard.next() }  // repeats of the first publish
        #expect(next == .revoke(agentId: "ag_2"))
        // The sender hears none of its own.
        await b.signals.publish(.renamed(agentId: "ag_3"))
        await a.signals.publish(.renamed(agentId: "ag_4"))
        next = await heard.next()
        #expect(next == .renamed(agentId: "ag_4"))

        // PostgreSQL restarts: the listener reconnects by itself and reports the gap.
        try await server.stop(immediate: true)
        try await server.restart()
        next = await heard.next()
        while let signal = next, signal != .rescan { next = await heard.next() }
        #expect(next == .rescan)
    }

    @Test("one node at a time holds the timer lease, on the database's clock; a released lease passes on")
    func timerLease() async throws {
        let server = try await PostgresTestServer.shared()
        let location = try PostgresLocation(parsing: try await server.createDatabase(prefix: "lease"))
        let first = PostgresTimerLease(location: location, password: nil, logger: Self.logger)
        let second = PostgresTimerLease(location: location, password: nil, logger: Self.logger)
        let now = await first.lead()
        #expect(abs(now?.timeIntervalSinceNow ?? .infinity) < 60)
        #expect(await first.lead() != nil)
        #expect(await second.lead() == nil)
        await first.release()
        #expect(await second.lead() != nil)
        #expect(await first.lead() == nil)
        await first.release()
        await second.release()
    }
}
