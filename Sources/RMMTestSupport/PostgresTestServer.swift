import Foundation
import Synchronization
import Testing

/// A real PostgreSQL server for tests, in a temporary directory, reachable only on a unix socket
/// there (no TCP port at all).
///
/// `initdb` refuses to run as root, so as root the server runs as the `postgres` user that
/// Debian's package creates (through `setpriv`, which execs rather than forks, so signals reach
/// the server itself). A watchdog shell stops the server within a second of the test process
/// ending, however it ends, so no run leaves a server behind.
///
/// Without PostgreSQL's programs the tests that need one are skipped, saying so; with
/// `GURURMM_REQUIRE_TOOLS=1` (CI) they fail instead.
public final class PostgresTestServer: Sendable {
    /// The directory holding `data/` and the socket.
    public let directory: String
    /// The socket's directory (libpq's `host=`).
    public let socketDirectory: String
    /// The socket's port number (only names the socket file: `.s.PGSQL.<port>`).
    public let port: Int
    /// The database superuser.
    public let superuser: String
    private let binaries: String
    private let runAs: [String]
    private let process = Mutex<ManagedProcess?>(nil)
    private let databaseCounter = Mutex(0)

    /// One server for the whole test process, started on first use (concurrent first uses share
    /// one start).
    public static func shared() async throws -> PostgresTestServer {
        let starting = sharedStart.withLock { task in
            if let task { return task }
            let started = Task { try await start() }
            task = started
            return started
        }
        return try await starting.value
    }

    private static let sharedStart = Mutex<Task<PostgresTestServer, any Error>?>(nil)

    /// A new server of its own (for tests that stop and restart it).
    public static func start() async throws -> PostgresTestServer {
        let binaries = try locateBinaries()
        let directory = try freeTemporaryDirectory(prefix: "gururmm-pg")
        let runAs: [String]
        let superuser: String
        if getuid() == 0 {
            guard let account = getpwnam("postgres") else {
                throw PostgresTestServerError("running as root and there is no `postgres` user to run PostgreSQL as (install Debian's postgresql package)")
            }
            guard chown(directory, account.pointee.pw_uid, account.pointee.pw_gid) == 0 else {
                throw PostgresTestServerError("cannot hand \(directory) to the postgres user (errno \(errno))")
            }
            runAs = ["/usr/bin/setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]
            superuser = "postgres"
        } else {
            runAs = []
            superuser = String(cString: getpwuid(getuid()).pointee.pw_name)
        }
        let server = PostgresTestServer(directory: directory, binaries: binaries, runAs: runAs, superuser: superuser)
        try await server.run(binaries + "/initdb", ["-D", server.dataDirectory, "-U", superuser, "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"])
        try server.appendSettings()
        try await server.startServer()
        return server
    }

    private init(directory: String, binaries: String, runAs: [String], superuser: String) {
        self.directory = directory
        self.socketDirectory = directory
        self.port = 5432
        self.binaries = binaries
        self.runAs = runAs
        self.superuser = superuser
    }

    private var dataDirectory: String { directory + "/data" }

    /// A new, empty database; returns its `postgres://` URL for `gururmm server --store`.
    public func createDatabase(prefix: String = "t") async throws -> String {
        let number = databaseCounter.withLock { counter in
            counter += 1
            return counter
        }
        let name = "\(prefix)_\(getpid())_\(number)"
        try await psql("CREATE DATABASE \(name)")
        return url(database: name)
    }

    /// The URL of `database` on this server.
    public func url(database: String) -> String {
        "postgres://\(superuser)@localhost:\(port)/\(database)?host=\(socketDirectory)"
    }

    /// Runs one SQL statement as the superuser through `psql` and returns what it printed.
    @discardableResult
    public func psql(_ sql: String, database: String = "postgres") async throws -> String {
        try await run(binaries + "/psql", ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", socketDirectory, "-p", "\(port)", "-U", superuser, "-d", database, "-c", sql], asServerUser: false)
    }

    /// Stops the server: `fast` ends sessions and checkpoints; `immediate` is a crash (recovery at next start).
    public func stop(immediate: Bool = false) async throws {
        guard let running = process.withLock({ $0 }) else { return }
        running.signal(immediate ? SIGQUIT : SIGINT)
        _ = try await running.waitForExit(timeout: .seconds(60))
        process.withLock { $0 = nil }
    }

    /// Starts it again on the same data and socket (after `stop`).
    public func restart() async throws {
        try await startServer()
    }

    private func appendSettings() throws {
        // Unix socket only, in our directory; synchronous commits and fsync as in production
        // (benchmarks state it); enough connections for several nodes' pools.
        let settings = """

            listen_addresses = ''
            unix_socket_directories = '\(socketDirectory)'
            port = \(port)
            max_connections = 200
            fsync = on
            synchronous_commit = on
            """
        let path = dataDirectory + "/postgresql.conf"
        guard let handle = FileHandle(forWritingAtPath: path) else { throw PostgresTestServerError("cannot open \(path)") }
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(settings.utf8))
    }

    private func startServer() async throws {
        // The watchdog: the shell's parent is this test process; when it is gone, stop the server.
        let command = (runAs + [binaries + "/postgres", "-D", dataDirectory]).map(Self.shellQuoted).joined(separator: " ")
        let script = """
            parent=$PPID
            \(command) &
            server=$!
            trap 'kill -INT $server 2>/dev/null; wait $server; exit 0' INT
            trap 'kill -QUIT $server 2>/dev/null; wait $server; exit 0' QUIT
            while kill -0 "$parent" 2>/dev/null && kill -0 "$server" 2>/dev/null; do sleep 1 & wait $!; done
            kill -QUIT $server 2>/dev/null
            wait $server
            """
        let started = try ManagedProcess.start("/bin/sh", arguments: ["-c", script], logPath: directory + "/server.log")
        process.withLock { $0 = started }
        try await waitUntil("PostgreSQL accepts connections on \(socketDirectory)", timeout: .seconds(60)) {
            guard started.isRunning else { throw PostgresTestServerError("PostgreSQL exited: \(started.logExcerpt())") }
            return (try? await self.run(self.binaries + "/pg_isready", ["-q", "-h", self.socketDirectory, "-p", "\(self.port)"], asServerUser: false)) != nil
        }
    }

    @discardableResult
    private func run(_ executable: String, _ arguments: [String], asServerUser: Bool = true) async throws -> String {
        let full = (asServerUser ? runAs : []) + [executable] + arguments
        let log = directory + "/cmd-\(UUID().uuidString).log"
        let child = try ManagedProcess.start(full[0], arguments: Array(full.dropFirst()), logPath: log)
        let status = try await child.waitForExit(timeout: .seconds(120))
        let output = child.logContents()
        try? FileManager.default.removeItem(atPath: log)
        guard status == 0 else {
            throw PostgresTestServerError("\(URL(fileURLWithPath: executable).lastPathComponent) exited with \(status): \(output.suffix(2000))")
        }
        return output
    }

    private static func shellQuoted(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// The directory of `initdb`, `postgres`, `psql` and `pg_isready`; skips or fails the test without them.
    private static func locateBinaries() throws -> String {
        let fileManager = FileManager.default
        let versions = ((try? fileManager.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? [])
            .compactMap(Int.init).sorted(by: >)
        let candidates = versions.map { "/usr/lib/postgresql/\($0)/bin" }
            + (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        for directory in candidates where ["initdb", "postgres", "psql", "pg_isready"].allSatisfy({
            fileManager.isExecutableFile(atPath: directory + "/" + $0)
        }) {
            return directory
        }
        let why = "PostgreSQL is not installed (initdb, postgres, psql, pg_isready); install Debian's `postgresql` package"
        if ProcessInfo.processInfo.environment["GURURMM_REQUIRE_TOOLS"] == "1" {
            throw PostgresTestServerError("GURURMM_REQUIRE_TOOLS=1: " + why)
        }
        try Test.cancel(Comment(rawValue: why))
    }
}

/// Why the test PostgreSQL server could not be made or used.
public struct PostgresTestServerError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
