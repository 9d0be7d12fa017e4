import Foundation
import GRDB
import RMMProtocol

/// The SQLite implementation of every `Store` role, through GRDB.
///
/// Durability: the file is opened in WAL mode with `synchronous = FULL`, so every committed write
/// transaction is fsynced before the call returns; a SIGKILL (or power loss) after a method returns
/// cannot lose its effect. Every mutating method runs atomically (alone it rolls back); concurrent
/// ones share one IMMEDIATE write transaction (group commit), and each returns only after that
/// transaction committed.
///
/// Dates are stored as REAL seconds since the reference date (2001-01-01 UTC), the value `Date`
/// holds internally, so a stored date reads back bit-for-bit equal to the one written.
public final class SQLiteStore: Store, CommitTimedStore {
    /// A `DatabasePool` for files, a `DatabaseQueue` for in-memory test stores; both are Sendable.
    let writer: any DatabaseWriter
    /// Every write goes through here, so concurrent writes share transactions (and fsyncs).
    let committer: GroupCommitter
    /// The change counter, kept in memory for the length of each shared transaction.
    let versions: VersionCounter
    /// What opening did about the write-ahead log's size (`WALPreallocation`), for the server to
    /// log; nil for an in-memory store, which has no WAL.
    public let walPreallocation: WALPreallocation.Outcome?

    /// WAL pages between checkpoints, and so the size the WAL settles at.
    static let checkpointPages = 8000

    /// Opens (creating if needed) the database file at `path` and brings its schema up to date.
    public init(path: String) throws {
        var config = Self.configuration()
        config.label = "gururmm.store"
        // SQLite deletes the WAL of a database without pages, so a new database is made and
        // closed first; its WAL can then be preallocated like an existing one's.
        if ((try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0) == 0 {
            let creating = try DatabasePool(path: path, configuration: config)
            try Self.migrator.migrate(creating)
            try creating.close()
        }
        walPreallocation = WALPreallocation.prepare(databasePath: path, bytes: WALPreallocation.bytes(pages: Self.checkpointPages))
        let pool = try DatabasePool(path: path, configuration: config)
        // DatabasePool switches its writer to `synchronous = NORMAL` after `prepareDatabase` runs
        // (its WAL set-up), which can lose the last commits on power loss. The writer connection
        // lives as long as the pool, so setting FULL once here holds for every later write.
        try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        // The writer's page cache: 32 MiB instead of SQLite's 2 MiB, so the pages a fan-out's
        // transactions keep touching (the indexes, the newest rows) stay in memory rather than
        // being read back from the OS for every write (a 10,000-agent fan-out read tens of
        // thousands of pages per second at 2 MiB). And a checkpoint every 8,000 WAL pages (about
        // 32 MiB) instead of 1,000: a page that many commits change (an index's newest leaf) is
        // copied into the database once per checkpoint, so fewer checkpoints copy it fewer
        // times — a third fewer page writes and reads in a sustained fan-out.
        try pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA cache_size = -32768; PRAGMA wal_autocheckpoint = \(Self.checkpointPages)")
        }
        try Self.migrator.migrate(pool)
        self.writer = pool
        self.versions = VersionCounter()
        self.committer = GroupCommitter(writer: pool, counter: versions)
    }

    private init(writer: any DatabaseWriter) throws {
        walPreallocation = nil
        try Self.migrator.migrate(writer)
        self.writer = writer
        self.versions = VersionCounter()
        self.committer = GroupCommitter(writer: writer, counter: versions)
    }

    public func observeCommits(_ observer: any StoreCommitObserver) {
        committer.timing.set(observer)
    }

    /// A private in-memory store, for tests.
    public static func inMemory() throws -> SQLiteStore {
        try SQLiteStore(writer: DatabaseQueue(configuration: configuration()))
    }

    private static func configuration() -> Configuration {
        var config = Configuration()
        config.foreignKeysEnabled = true
        // Another process (a second server, the CLI, a test) may hold the write lock briefly.
        config.busyMode = .timeout(10)
        config.prepareDatabase { db in
            // A commit must reach the disk before we acknowledge anything (see also `init(path:)`).
            try db.execute(sql: "PRAGMA synchronous = FULL")
            // A batch whose write failed runs again with each write in its own savepoint
            // (`GroupCommitter`), and SQLite copies each page a savepoint touches into a statement
            // journal first. In a temporary file that was a pwrite per page; in memory it is a
            // copy. It holds one write's pages at a time (emptied at each release) and is never
            // needed after a crash: the WAL alone decides what committed.
            try db.execute(sql: "PRAGMA temp_store = MEMORY")
        }
        return config
    }

    /// Runs `body` atomically in the next shared IMMEDIATE write transaction,
    /// and returns once that transaction is durable (`GroupCommitter`).
    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await committer.write(body)
    }

    /// Write transactions committed and writes they carried, since the store opened.
    public var commitCounts: (transactions: Int, writes: Int) {
        let counts = committer.counts
        return (counts.batches, counts.jobs)
    }

    /// Runs `body` against a consistent snapshot.
    func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await writer.read(body)
    }


    /// True when `error` is SQLite refusing a row whose reference names no existing row.
    static func isForeignKeyViolation(_ error: any Error) -> Bool {
        (error as? DatabaseError)?.extendedResultCode == .SQLITE_CONSTRAINT_FOREIGNKEY
    }

    /// True when `error` is SQLite refusing a duplicate primary key or unique value.
    static func isUniqueViolation(_ error: any Error) -> Bool {
        guard let error = error as? DatabaseError else { return false }
        return error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE
            || error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY
    }
}

extension Database {
    /// Runs one fixed SQL statement through the connection's statement cache. For the statements
    /// every command step runs: compiling them each time (and GRDB's authorizer callback, which
    /// runs per compiled column) was about a fifth of the server's CPU in a fan-out profile.
    /// Only for SQL text that does not vary (the cache keeps one statement per distinct text).
    func executeCached(sql: String, arguments: StatementArguments) throws {
        try cachedStatement(sql: sql).execute(arguments: arguments)
    }
}
