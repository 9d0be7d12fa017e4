import Foundation
import Logging
import RMMStore
import RMMTestSupport
import Testing

/// Opening a PostgreSQL store: its URL, its password, and migrations that nodes starting together apply once.
@Suite("PostgreSQL store: location and migrations")
struct PostgresStoreSetupTests {
    @Test("a store URL is parsed into endpoint, user, database and TLS")
    func parsesLocations() throws {
        let socket = try PostgresLocation(parsing: "postgres://rmm@localhost:6543/fleet?host=/run/pg")
        #expect(socket.endpoint == .unixSocket(path: "/run/pg/.s.PGSQL.6543"))
        #expect(socket.user == "rmm" && socket.database == "fleet" && socket.tls == .disable)

        let remote = try PostgresLocation(parsing: "postgresql://rmm@db.example.com/fleet")
        #expect(remote.endpoint == .tcp(host: "db.example.com", port: 5432))
        #expect(remote.tls == .verifyFull, "TLS with verification is the default off loopback")

        let loopback = try PostgresLocation(parsing: "postgres://rmm@127.0.0.1:5433/fleet")
        #expect(loopback.tls == .disable)
        let required = try PostgresLocation(parsing: "postgres://rmm@db:5433/fleet?sslmode=require")
        #expect(required.tls == .require)
        #expect(required.description == "postgres://rmm@db:5433/fleet?sslmode=require")
    }

    @Test("bad store URLs are refused saying what to fix", arguments: [
        ("postgres://rmm:secret@db/fleet", "password"),
        ("mysql://rmm@db/fleet", "scheme"),
        ("postgres://db/fleet", "no user"),
        ("postgres://rmm@db/", "no database"),
        ("postgres://rmm@db:70000/fleet", "port"),
        ("postgres://rmm@db/fleet?host=relative", "absolute path"),
        ("postgres://rmm@db/fleet?sslmode=prefer", "sslmode"),
        ("postgres://rmm@db/fleet?application_name=x", "unknown option"),
        ("postgres://rmm@db/fleet?host=/s&sslmode=require", "unix socket"),
        ("postgres://rmm@db/fleet?sslmode=require&sslrootcert=/ca.pem", "verify-full"),
    ])
    func refusesBadLocations(url: String, mentions: String) {
        #expect {
            _ = try PostgresLocation(parsing: url)
        } throws: { error in
            "\(error)".contains(mentions)
        }
    }

    @Test("the password comes from a file's first line or the environment, never the URL")
    func readsPasswords() throws {
        let directory = try freeTemporaryDirectory(prefix: "pg-password")
        let file = directory + "/password"
        try Data("s3cret\r\nignored\n".utf8).write(to: URL(fileURLWithPath: file))
        #expect(try PostgresLocation.password(environment: [PostgresLocation.passwordVariable: "env"], file: file) == "s3cret")
        #expect(try PostgresLocation.password(environment: [PostgresLocation.passwordVariable: "env"], file: nil) == "env")
        #expect(try PostgresLocation.password(environment: [:], file: nil) == nil)
        try Data().write(to: URL(fileURLWithPath: file))
        #expect(throws: PostgresLocationError.self) { try PostgresLocation.password(environment: [:], file: file) }
        #expect(throws: PostgresLocationError.self) { try PostgresLocation.password(environment: [:], file: directory + "/missing") }
    }

    @Test("nodes starting together migrate the schema once, under the lock")
    func concurrentStartsMigrateOnce() async throws {
        let server = try await PostgresTestServer.shared()
        let url = try await server.createDatabase(prefix: "migrate")
        let location = try PostgresLocation(parsing: url)
        let stores = try await withThrowingTaskGroup(of: PostgresStore.self) { group in
            for _ in 0..<4 {
                group.addTask { try await PostgresStore.open(location, password: nil, logger: Logger(label: "test.migrate")) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        defer { stores.forEach { $0.close() } }
        let database = location.database
        let applied = try await server.psql("SELECT id || ':' || count(*) FROM schema_migrations GROUP BY id ORDER BY id", database: database)
        #expect(applied.split(separator: "\n") == ["v1:1", "v2-cluster:1", "v3-peer-url:1", "v4-cancel-requests:1", "v5-console-sessions:1", "v6-agent-remote-address:1", "v7-agent-metric-history:1"])
    }

    @Test("a database migrated by a newer gururmm is refused, naming the migration")
    func refusesNewerSchema() async throws {
        let server = try await PostgresTestServer.shared()
        let url = try await server.createDatabase(prefix: "newer")
        let location = try PostgresLocation(parsing: url)
        try await PostgresStore.open(location, password: nil, logger: Logger(label: "test")).close()
        let database = location.database
        try await server.psql("INSERT INTO schema_migrations (id) VALUES ('v999-from-the-future')", database: database)
        await #expect {
            _ = try await PostgresStore.open(location, password: nil, logger: Logger(label: "test"))
        } throws: { error in
            "\(error)".contains("v999-from-the-future")
        }
    }

    @Test("an unreachable database is reported as unavailable, saying where")
    func unreachableDatabase() async throws {
        let directory = try freeTemporaryDirectory(prefix: "pg-none")
        let location = try PostgresLocation(parsing: "postgres://nobody@localhost/none?host=\(directory)")
        await #expect {
            _ = try await PostgresStore.open(location, password: nil, logger: Logger(label: "test"))
        } throws: { error in
            if case .unavailable = error as? StoreError { return true }
            return false
        }
    }
}
