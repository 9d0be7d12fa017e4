import Foundation

/// The cluster benchmark's own PostgreSQL: a fresh cluster in the work directory, on a unix socket
/// only, with `fsync` and `synchronous_commit` on (the durability production runs with, which the
/// figures claim), run as the `postgres` user when the bench runs as root (`initdb` refuses root).
///
/// The bench starts its own rather than taking any server's URL: every configuration needs a fresh
/// database, the durability settings must be known, and PostgreSQL's CPU is read from /proc for
/// its postmaster and backends, which must therefore run on this machine.
final class BenchPostgres {
    let directory: String
    let binaries: String
    let superuser: String
    /// The socket file's number (`.s.PGSQL.<port>`); no TCP port is opened.
    let port = 5432
    private let runAs: [String]
    private let server: BenchChild
    private let watcher: BenchChild
    private var databases = 0

    /// Runs `initdb` in `directory` (new) and starts the server, waiting at most 60 s for it to answer.
    init(directory: String, binaries explicit: String?) async throws {
        binaries = try Self.locate(explicit)
        self.directory = directory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if getuid() == 0 {
            guard let account = getpwnam("postgres") else { throw BenchError("running as root and there is no `postgres` user to run PostgreSQL as") }
            try Self.checkReachable(directory)
            guard chown(directory, account.pointee.pw_uid, account.pointee.pw_gid) == 0 else {
                throw BenchError("cannot give \(directory) to the postgres user: \(String(cString: strerror(errno)))")
            }
            runAs = ["/usr/bin/setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]
            superuser = "postgres"
        } else {
            runAs = []
            guard let entry = getpwuid(getuid()) else { throw BenchError("the user id \(getuid()) has no passwd entry: PostgreSQL needs a user name") }
            superuser = String(cString: entry.pointee.pw_name)
        }
        let data = directory + "/data"
        try await Self.run(runAs + [binaries + "/initdb", "-D", data, "-U", superuser, "--auth=trust", "-E", "UTF8", "--no-instructions"],
                           log: directory + "/initdb.log", timeout: 120)
        // Durability stated, not inherited: the figures are for fsync and synchronous commits on.
        let settings = "\nlisten_addresses = ''\nunix_socket_directories = '\(directory)'\nport = \(port)\n"
            + "max_connections = 300\nfsync = on\nsynchronous_commit = on\nfull_page_writes = on\n"
            // Where the database's time goes, per statement (`PostgresStatementProfile`).
            + "shared_preload_libraries = 'pg_stat_statements'\npg_stat_statements.max = 1000\npg_stat_statements.track_planning = on\n"
        guard let handle = FileHandle(forWritingAtPath: data + "/postgresql.conf") else { throw BenchError("cannot open \(data)/postgresql.conf") }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(settings.utf8))
        try handle.close()
        // The postmaster is the bench's own child (`setpriv` execs it), so it is reaped the moment it
        // exits; a watcher stops it if the bench is gone, however the bench ends. The watcher waits on
        // no child of its own: a shell's `wait` can sleep forever under the signal mask it inherits.
        let server = try BenchChild(name: "postgres", executable: (runAs + [binaries + "/postgres"])[0],
                                    arguments: Array((runAs + [binaries + "/postgres", "-D", data]).dropFirst()), logPath: directory + "/postgres.log")
        self.server = server
        watcher = try BenchChild(name: "postgres-watcher", executable: "/bin/sh", arguments: [
            "-c", "while kill -0 \(getpid()) 2>/dev/null && kill -0 \(server.pid) 2>/dev/null; do sleep 1; done; kill -QUIT \(server.pid) 2>/dev/null",
        ], logPath: directory + "/watcher.log")
        try await benchWait("PostgreSQL to accept connections on \(directory)", timeout: 60, every: 0.25) {
            if !server.isRunning { throw BenchError("PostgreSQL exited: \(server.log.suffix(2000))") }
            return (try? await self.psql("SELECT 1")) != nil
        }
        let durability = try await psql("SELECT current_setting('fsync') || ',' || current_setting('synchronous_commit')")
        guard durability.trimmingCharacters(in: .whitespacesAndNewlines) == "on,on" else { throw BenchError("PostgreSQL runs with fsync,synchronous_commit = \(durability)") }
        try await psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    }

    /// What the database of `url` has committed so far, and the server's WAL flushes.
    private func counters(database: String) async throws -> (commits: Int, walSyncs: Int) {
        let output = try await psql("SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = '\(database)') || ',' || (SELECT wal_sync FROM pg_stat_wal)")
        let fields = output.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ",")
        guard fields.count == 2, let commits = Int(fields[0]), let syncs = Int(fields[1]) else { throw BenchError("unreadable PostgreSQL counters: \(output.prefix(200))") }
        return (commits, syncs)
    }

    /// Starts a statement profile of the database of `url`: forgets the statements seen so far
    /// and returns the counters to subtract at its end.
    func beginProfile(url: String) async throws -> (commits: Int, walSyncs: Int) {
        try await psql("SELECT pg_stat_statements_reset()")
        return try await counters(database: Self.databaseName(url))
    }

    /// The statements, commits and WAL flushes of the database of `url` since `beginProfile`.
    func endProfile(url: String, since start: (commits: Int, walSyncs: Int), label: String, commands: Int) async throws -> PostgresStatementProfile {
        let database = Self.databaseName(url)
        let end = try await counters(database: database)
        let separator: Character = "\u{1F}"
        let filter = "dbid = (SELECT oid FROM pg_database WHERE datname = '\(database)')"
        let top = try await psql("""
            SELECT calls || chr(31) || round(total_exec_time::numeric, 3) || chr(31) || round(total_plan_time::numeric, 3) || chr(31) || rows || chr(31) || left(regexp_replace(query, '\\s+', ' ', 'g'), 140)
            FROM pg_stat_statements WHERE \(filter) ORDER BY total_exec_time + total_plan_time DESC LIMIT \(PostgresStatementProfile.top)
            """)
        let total = try await psql("SELECT coalesce(round(sum(total_exec_time + total_plan_time)::numeric, 3), 0) FROM pg_stat_statements WHERE \(filter)")
        return PostgresStatementProfile(label: label, commands: commands, statements: PostgresStatementProfile.statements(from: top, separator: separator),
                                        totalMilliseconds: Double(total.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0,
                                        commits: end.commits - start.commits, walSyncs: end.walSyncs - start.walSyncs)
    }

    /// The database a `createDatabase` URL names (its path).
    private static func databaseName(_ url: String) -> String {
        String(URL(string: url)?.path.dropFirst() ?? "")
    }

    /// A new, empty database; its URL for `gururmm server --store`.
    func createDatabase(_ prefix: String) async throws -> String {
        databases += 1
        let name = "\(prefix)_\(databases)"
        try await psql("CREATE DATABASE \(name)")
        return "postgres://\(superuser)@localhost:\(port)/\(name)?host=\(directory)"
    }

    /// Drops a database made by `createDatabase` once its nodes are gone (frees the disk between configurations).
    func dropDatabase(url: String) async {
        guard let name = URL(string: url)?.path.dropFirst(), !name.isEmpty else { return }
        _ = try? await psql("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }

    @discardableResult
    func psql(_ sql: String) async throws -> String {
        try await Self.run([binaries + "/psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", directory, "-p", "\(port)", "-U", superuser, "-d", "postgres", "-c", sql],
                           log: directory + "/psql.log", timeout: 60)
    }

    /// CPU seconds of the whole server so far: the postmaster, its live backends and helpers, and
    /// the children it has already reaped (a closed connection's backend).
    func cpuSeconds() -> Double? {
        let postmaster = server.pid
        guard let own = ProcessTree.cpu(pid: postmaster) else { return nil }
        return own.withReapedChildren + ProcessTree.children(of: postmaster).compactMap { ProcessTree.cpu(pid: $0)?.own }.reduce(0, +)
    }

    /// Fast shutdown (SIGINT to the postmaster), at most 60 s; then an immediate one (SIGQUIT), then SIGKILL.
    func stop() async {
        let server = self.server
        for signal in [SIGINT, SIGQUIT, SIGKILL] where server.isRunning {
            kill(server.pid, signal)
            try? await benchWait("PostgreSQL to shut down", timeout: signal == SIGINT ? 60 : 10, every: 0.1) { !server.isRunning }
        }
        await watcher.stop(grace: 2)
    }

    /// Runs a program to its end (at most `timeout` seconds), returning what it printed, or throwing with its output.
    @discardableResult
    private static func run(_ command: [String], log: String, timeout: Double) async throws -> String {
        let child = try BenchChild(name: URL(fileURLWithPath: command[0]).lastPathComponent, executable: command[0], arguments: Array(command.dropFirst()), logPath: log)
        try await benchWait("\(child.name) to finish", timeout: timeout, every: 0.05) { !child.isRunning }
        let output = child.log
        guard child.process.terminationStatus == 0 else { throw BenchError("\(child.name) exited with \(child.process.terminationStatus): \(output.suffix(2000))") }
        return output
    }

    /// The postgres user must pass through every directory above its own (others' execute bit).
    private static func checkReachable(_ directory: String) throws {
        var path = URL(fileURLWithPath: directory).standardizedFileURL.deletingLastPathComponent()
        while path.path != "/" {
            var info = stat()
            if stat(path.path, &info) == 0, info.st_mode & S_IXOTH == 0 {
                throw BenchError("PostgreSQL runs as the postgres user, which cannot enter \(path.path) (mode \(String(info.st_mode & 0o777, radix: 8))): chmod o+x it or give another --work-dir")
            }
            path.deleteLastPathComponent()
        }
    }

    /// `initdb`, `postgres` and `psql` from `explicit`, else Debian's newest /usr/lib/postgresql/N/bin, else PATH.
    private static func locate(_ explicit: String?) throws -> String {
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []).compactMap(Int.init).sorted(by: >)
        let candidates = explicit.map { [$0] } ?? (versions.map { "/usr/lib/postgresql/\($0)/bin" }
            + (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init))
        for directory in candidates where ["initdb", "postgres", "psql"].allSatisfy({ FileManager.default.isExecutableFile(atPath: directory + "/" + $0) }) {
            return directory
        }
        throw BenchError("PostgreSQL's initdb, postgres and psql not found in \(explicit ?? "/usr/lib/postgresql/*/bin or PATH") (Debian: apt-get install postgresql, or give --postgres-bin)")
    }
}
