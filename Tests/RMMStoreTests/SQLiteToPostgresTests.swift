import Foundation
import GRDB
import RMMProtocol
import RMMStore
import RMMTestSupport
import Testing

/// `gururmm store migrate`: a SQLite store copied into PostgreSQL, compared table by table and row by row.
@Suite("SQLite to PostgreSQL migration")
struct SQLiteToPostgresTests {
    /// Every kind of row a single node makes, through the store's own API, with values that are
    /// easy to damage on the way (binary output, separators, sub-microsecond dates, NULLs).
    static func fill(_ store: SQLiteStore) async throws {
        let now = Date()
        _ = try await store.createEnrollmentToken(hash: "tok", expiresAt: now.addingTimeInterval(3600), uses: 10, now: now)
        let spare = try await store.createEnrollmentToken(hash: "tok-2", expiresAt: nil, uses: 1, now: now)
        try await store.revokeEnrollmentToken(id: spare.id, now: now)
        let audit = AuditEntry(at: now, actor: "ops|1", tokenId: "tk_1", role: "admin", action: "agents.rename", targets: ["a", "b"], detail: "line\nbreak", remote: "::1")
        var agents: [AgentRecord] = []
        for index in 0..<3 {
            agents.append(try await store.enrollAgent(tokenHash: "tok", publicKey: "key-\(index)", facts: Fixture.facts("web-\(index)"), now: now))
        }
        _ = try await store.recordConnect(agentId: agents[0].id, facts: Fixture.facts("web-0"), remote: "2001:db8::5:443", now: now)
        try await store.saveLiveness(agentId: agents[0].id, AgentLiveness(metrics: HostMetrics(cpuPercent: 1.5, uptimeSeconds: 99)))
        try await store.saveLinkDiagnosis(agentId: agents[0].id, Data([0, 1, 2, 0xFF]))
        try await store.saveMetricHistories([(agents[0].id, Data([1, 0, 0x7C, 0xFF]))], now: now)
        _ = try await store.renameAgent(id: agents[1].id, to: "Renamed-Ü", audit: audit)
        try await store.revokeAgent(id: agents[2].id, now: now, audit: nil)
        var commands = (0..<4).map { Fixture.command("c\($0)", agent: agents[0].id, created: Double($0)) }
        commands[3].interpreter = "/bin/sh"
        try await store.insertCommands(commands)
        _ = try await store.transition(commandId: "c0", to: .sent, reason: nil, now: now)
        _ = try await store.appendOutput(commandId: "c0", stream: .stdout, offset: 0, data: Data("out|put\n".utf8), cap: 1000)
        _ = try await store.appendOutput(commandId: "c0", stream: .stderr, offset: 0, data: Data([0, 0xFE, 0x7C, 0x0A]), cap: 1000)
        _ = try await store.finish(commandId: "c0", outcome: CommandOutcome(state: .failed, exitCode: 3, stdout: Data("out|put\nmore".utf8),
                                                                              stdoutTruncated: true), now: now)
        _ = try await store.finish(commandId: "c1", outcome: CommandOutcome(state: .cancelled, reason: "stopped", signal: 15), now: now)
        _ = try await store.createAPIToken(name: "ops", role: "admin", hash: "api-1", now: now)
        let viewer = try await store.createAPIToken(name: "view", role: "viewer", hash: "api-2", now: now)
        try await store.revokeAPIToken(id: viewer.id, now: now, audit: audit)
        try await store.appendAudit(AuditEntry(at: now, actor: "server", role: "server", action: "tokens.create", targets: [], detail: "", remote: "local"))
        _ = try await store.recordVerdict(VerdictStoreTests.entry(agents[0].id, .healthy, at: 1), keep: 100)
        _ = try await store.recordVerdict(VerdictStoreTests.entry(agents[1].id, .pathFiltersData, .handshake, .challenge, at: 2), keep: 100)
        var config = AgentConfig.defaults
        config.heartbeatInterval += 1
        _ = try await store.saveConfig(config)
        try await store.saveSetting("console_named_sites", value: "{\"sites\":[{\"name\":\"HQ|1\",\"ranges\":[\"10.0.0.0/8\"]}]}", audit: nil)
    }

    @Test("every row of every table arrives as it was; versions sort after the migration; seq keeps creation order")
    func copiesEverything() async throws {
        let server = try await PostgresTestServer.shared()
        let url = try await server.createDatabase(prefix: "migrate")
        let database = try #require(URLComponents(string: url)?.path.split(separator: "/").first.map(String.init))
        let path = Fixture.temporaryPath()
        defer { Fixture.removeDatabase(at: path) }
        let source = try SQLiteStore(path: path)
        try await Self.fill(source)
        let target = try await PostgresStore.open(try PostgresLocation(parsing: url), password: nil, logger: .init(label: "test.migrate"))
        defer { target.close() }

        let counts = try await SQLiteToPostgres.copy(from: source, to: target)
        let sqlite = try DatabaseQueue(path: path)
        let tables = ["enrollment_tokens", "api_tokens", "settings", "agents", "commands", "command_events", "command_output", "audit_log", "link_verdicts", "agent_metric_history"]
        #expect(counts.map(\.table).sorted() == tables.sorted())
        for table in tables {
            let columns = try await sqlite.read { db in try db.columns(in: table).map(\.name) }
            let pgColumns = try await server.psql(
                "SELECT column_name || ':' || data_type FROM information_schema.columns WHERE table_name = '\(table)' ORDER BY ordinal_position",
                database: database
            ).split(separator: "\n").map { $0.split(separator: ":", maxSplits: 1).map(String.init) }
            let pgTypes = Dictionary(uniqueKeysWithValues: pgColumns.map { ($0[0], $0[1]) })
            #expect(Set(pgTypes.keys).subtracting(["seq"]) == Set(columns), "table \(table): the same columns")
            let compared = columns.filter { $0 != "version" || table == "settings" }
            let expected = try await sqlite.read { db in
                try Row.fetchAll(db, sql: "SELECT \(compared.joined(separator: ", ")) FROM \(table)").map { row in
                    compared.indices.map { Self.canonical(row[$0] as DatabaseValue, pgType: pgTypes[compared[$0]] ?? "") }.joined(separator: ",")
                }.sorted()
            }
            let expressions = compared.map { "COALESCE(\(Self.canonicalSQL($0, pgType: pgTypes[$0] ?? "")), 'NULL')" }
            let actual = try await server.psql("SELECT concat_ws(',', \(expressions.joined(separator: ", "))) FROM \(table)", database: database)
                .split(separator: "\n").map(String.init).sorted()
            #expect(actual == expected, "table \(table) row by row")
            #expect(counts.first { $0.table == table }?.rows == expected.count)
            #expect(!expected.isEmpty, "the fixture fills table \(table)")
        }

        // Creation order: PostgreSQL's seq follows SQLite's rowid.
        for table in ["agents", "commands"] {
            let order = try await sqlite.read { db in try String.fetchAll(db, sql: "SELECT id FROM \(table) ORDER BY rowid") }
            let pgOrder = try await server.psql("SELECT id FROM \(table) ORDER BY seq", database: database).split(separator: "\n").map(String.init)
            #expect(pgOrder == order)
        }
        // One version for every copied change, and a later transaction's version sorts after it.
        let versions = try await server.psql(
            "SELECT DISTINCT version FROM (SELECT version FROM commands UNION ALL SELECT version FROM command_output) v", database: database)
        let copiedVersion = try #require(Int64(versions.trimmingCharacters(in: .whitespacesAndNewlines)))
        let later = try await server.psql("SELECT pg_current_xact_id()::text::bigint", database: database)
        #expect(try #require(Int64(later.trimmingCharacters(in: .whitespacesAndNewlines))) > copiedVersion)

        // Identity columns continue after the copied rows.
        let nextAudit = try await server.psql(
            "INSERT INTO audit_log (at, actor, role, action, targets, detail, remote) VALUES (0, 'a', 'r', 'x', '[]', '', '') RETURNING id",
            database: database)
        let maxSQLiteAudit = try await sqlite.read { db in try Int64.fetchOne(db, sql: "SELECT max(id) FROM audit_log") ?? 0 }
        #expect(Int64(nextAudit.trimmingCharacters(in: .whitespacesAndNewlines)) == maxSQLiteAudit + 1)
    }

    @Test("a database that holds rows is refused and left as it was")
    func refusesNonEmpty() async throws {
        let source = try SQLiteStore.inMemory()
        try await Self.fill(source)
        let target = try await StoreBackend.postgresStore()
        defer { target.close() }
        _ = try await SQLiteToPostgres.copy(from: source, to: target)
        await #expect {
            _ = try await SQLiteToPostgres.copy(from: source, to: target)
        } throws: { error in
            "\(error)".contains("not empty")
        }
    }

    /// A SQLite value as the comparison's text: hex for text and bytes (no separator can hide in
    /// them), the bits of a double, decimal integers, 0/1 for booleans.
    static func canonical(_ value: DatabaseValue, pgType: String) -> String {
        switch value.storage {
        case .null: return "NULL"
        case .int64(let number):
            return pgType == "double precision" ? hex(Double(number)) : String(number)
        case .double(let number): return hex(number)
        case .string(let text): return Data(text.utf8).map { String(format: "%02x", $0) }.joined()
        case .blob(let data): return data.map { String(format: "%02x", $0) }.joined()
        }
    }

    static func hex(_ number: Double) -> String {
        let bits = String(number.bitPattern, radix: 16)
        return String(repeating: "0", count: 16 - bits.count) + bits
    }

    /// The same text, made by PostgreSQL from a column of `pgType`.
    static func canonicalSQL(_ column: String, pgType: String) -> String {
        switch pgType {
        case "double precision": return "encode(float8send(\(column)), 'hex')"
        case "boolean": return "(\(column)::int)::text"
        case "bytea": return "encode(\(column), 'hex')"
        case "text": return "encode(convert_to(\(column), 'UTF8'), 'hex')"
        default: return "\(column)::text"
        }
    }
}
