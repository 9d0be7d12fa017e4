import Foundation
import Logging
import RMMProtocol
import RMMStore
import RMMTestSupport
import Testing

/// The epoch-guarded move to `sent`. SQLite through the store's own roles; PostgreSQL with rows
/// inserted by plain SQL (the roles that insert them are separate work).
@Suite("SessionRouteStore")
struct SessionRouteStoreTests {
    @Test("sent only while no newer connection was recorded; superseded changes nothing")
    func guardedSent() async throws {
        let (store, agent) = try await Fixture.storeWithAgent()
        try await store.insertCommands([Fixture.command("c1", agent: agent.id), Fixture.command("c2", agent: agent.id)])
        let connected = try await store.recordConnect(agentId: agent.id, facts: Fixture.facts(), now: Fixture.at(1))
        #expect(try await store.markSent(commandIds: ["c1"], agentId: agent.id, epoch: connected.epoch, reason: "epoch \(connected.epoch)", now: Fixture.at(2))
            == .marked(["c1"]))
        let newer = try await store.recordConnect(agentId: agent.id, facts: Fixture.facts(), now: Fixture.at(3))
        #expect(try await store.markSent(commandIds: ["c2"], agentId: agent.id, epoch: connected.epoch, reason: "stale", now: Fixture.at(4))
            == .superseded(currentEpoch: newer.epoch))
        #expect(try await store.command(id: "c2")?.state == .queued)
        #expect(try await store.events(commandId: "c2").map(\.state) == [.queued])
        // The newer connection resends both (sent → sent is a move, with its event).
        #expect(try await store.markSent(commandIds: ["c1", "c2"], agentId: agent.id, epoch: newer.epoch, reason: "epoch \(newer.epoch)", now: Fixture.at(5))
            == .marked(["c1", "c2"]))
        #expect(try await store.events(commandId: "c1").compactMap(\.reason) == ["epoch \(connected.epoch)", "epoch \(newer.epoch)"])
    }

    @Test("ended, unknown and other agents' commands are not moved")
    func onlyMovable() async throws {
        let (store, agent) = try await Fixture.storeWithAgent()
        let other = try await store.enrollAgent(tokenHash: "tok", publicKey: "key-2", facts: Fixture.facts("web-2", hostname: "web-2.example"), now: Fixture.t0)
        try await store.insertCommands([Fixture.command("c1", agent: agent.id), Fixture.command("c2", agent: agent.id), Fixture.command("c3", agent: other.id)])
        _ = try await store.transition(commandId: "c2", to: .cancelled, reason: "ops", now: Fixture.at(1))
        #expect(try await store.markSent(commandIds: ["c1", "c2", "c3", "nope"], agentId: agent.id, epoch: 0, reason: nil, now: Fixture.at(2))
            == .marked(["c1"]))
        #expect(try await store.command(id: "c3")?.state == .queued)
        #expect(try await store.markSent(commandIds: ["c1"], agentId: "ag_unknown", epoch: 0, reason: nil, now: Fixture.at(2)) == .superseded(currentEpoch: nil))
    }

    @Test("the sweep's read: undelivered command ids per agent, in one query")
    func undeliveredIds() async throws {
        let (store, agent) = try await Fixture.storeWithAgent()
        try await store.insertCommands([Fixture.command("c1", agent: agent.id), Fixture.command("c2", agent: agent.id), Fixture.command("c3", agent: agent.id)])
        _ = try await store.markSent(commandIds: ["c2", "c3"], agentId: agent.id, epoch: 0, reason: nil, now: Fixture.at(1))
        _ = try await store.transition(commandId: "c3", to: .delivered, reason: nil, now: Fixture.at(2))
        #expect(try await store.undeliveredCommandIds(agentIds: [agent.id, "ag_none"]) == [agent.id: ["c1", "c2"]])
        #expect(try await store.undeliveredCommandIds(agentIds: []).isEmpty)
    }

    @Test("a draining node's read: each agent's stored epoch, unknown agents absent", arguments: StoreBackend.allCases)
    func epochs(backend: StoreBackend) async throws {
        let (store, agent) = try await Fixture.storeWithAgent(backend)
        defer { (store as? PostgresStore)?.close() }
        #expect(try await store.agentEpochs(agentIds: [agent.id, "ag_none"]) == [agent.id: agent.epoch])
        let connected = try await store.recordConnect(agentId: agent.id, facts: Fixture.facts(), now: Fixture.at(1))
        #expect(try await store.agentEpochs(agentIds: [agent.id]) == [agent.id: connected.epoch])
        #expect(connected.epoch == agent.epoch + 1)
        #expect(try await store.agentEpochs(agentIds: []).isEmpty)
    }

    // MARK: PostgreSQL

    /// A PostgreSQL store with one agent at `epoch` and queued commands, inserted by plain SQL.
    static func postgres(epoch: Int, commands: [String]) async throws -> (PostgresStore, PostgresTestServer, String) {
        let server = try await PostgresTestServer.shared()
        let url = try await server.createDatabase(prefix: "route")
        let location = try PostgresLocation(parsing: url)
        let store = try await PostgresStore.open(location, password: nil, logger: Logger(label: "test.route"))
        var sql = """
            INSERT INTO agents (id, name, name_key, public_key, hostname, os, version, enrolled_at, epoch)
            VALUES ('ag_1', 'web-1', 'web-1', 'key-1', 'h', 'linux', '1', 0, \(epoch));
            INSERT INTO agents (id, name, name_key, public_key, hostname, os, version, enrolled_at, epoch)
            VALUES ('ag_2', 'web-2', 'web-2', 'key-2', 'h', 'linux', '1', 0, 0);
            """
        for id in commands {
            sql += """
                INSERT INTO commands (id, agent_id, batch_id, kind, text, timeout_seconds, created_at, expires_at, state, updated_at, created_by, version)
                VALUES ('\(id)', 'ag_1', 'b1', 'shell', 'echo', 30, 0, 600, 'queued', 0, 'ops', 1);
                """
        }
        _ = try await server.psql(sql, database: location.database)
        return (store, server, location.database)
    }

    @Test("PostgreSQL: the guarded move, its events, and superseded")
    func postgresGuardedSent() async throws {
        let (store, server, database) = try await Self.postgres(epoch: 3, commands: ["c1", "c2", "c3"])
        defer { store.close() }
        _ = try await server.psql("UPDATE commands SET state = 'cancelled' WHERE id = 'c3'", database: database)
        #expect(try await store.markSent(commandIds: ["c1", "c3", "nope"], agentId: "ag_1", epoch: 3, reason: "epoch 3", now: Fixture.at(1)) == .marked(["c1"]))
        #expect(try await store.markSent(commandIds: ["c2"], agentId: "ag_1", epoch: 2, reason: "stale", now: Fixture.at(1)) == .superseded(currentEpoch: 3))
        #expect(try await store.markSent(commandIds: ["c2"], agentId: "ag_2", epoch: 0, reason: nil, now: Fixture.at(1)) == .marked([]))
        #expect(try await store.markSent(commandIds: ["c2"], agentId: "ag_none", epoch: 0, reason: nil, now: Fixture.at(1)) == .superseded(currentEpoch: nil))
        let states = try await server.psql("SELECT id || ':' || state FROM commands ORDER BY id", database: database)
        #expect(states.split(separator: "\n") == ["c1:sent", "c2:queued", "c3:cancelled"])
        let events = try await server.psql("SELECT command_id || ':' || state || ':' || reason FROM command_events ORDER BY id", database: database)
        #expect(events.split(separator: "\n") == ["c1:sent:epoch 3"])
        #expect(try await store.undeliveredCommandIds(agentIds: ["ag_1", "ag_2"]) == ["ag_1": ["c1", "c2"]])
    }

    @Test("PostgreSQL: a reconnect racing twenty sends — each send is wholly before it or superseded")
    func postgresConcurrentReconnect() async throws {
        let ids = (0..<20).map { "c\($0)" }
        let (store, server, database) = try await Self.postgres(epoch: 1, commands: ids)
        defer { store.close() }
        let results = try await withThrowingTaskGroup(of: (String, SentMarking).self) { group in
            for id in ids {
                group.addTask { (id, try await store.markSent(commandIds: [id], agentId: "ag_1", epoch: 1, reason: "epoch 1", now: Fixture.at(1))) }
            }
            group.addTask {
                _ = try await store.recordConnect(agentId: "ag_1", facts: Fixture.facts(), now: Fixture.at(2))
                return ("reconnect", .marked([]))
            }
            return try await group.reduce(into: [String: SentMarking]()) { $0[$1.0] = $1.1 }
        }
        let sent = Set(try await server.psql("SELECT id FROM commands WHERE state = 'sent'", database: database).split(separator: "\n").map(String.init))
        for id in ids {
            switch results[id] {
            case .marked(let moved)?: #expect(moved == [id]); #expect(sent.contains(id))
            case .superseded(let current)?: #expect(current == 2); #expect(!sent.contains(id))
            case nil: Issue.record("no result for \(id)")
            }
        }
    }
}
