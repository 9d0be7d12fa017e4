import Foundation
import Logging
import RMMAPI
import RMMStore

/// `gururmm store migrate`: a stopped single node's SQLite store, copied into an empty PostgreSQL
/// database (`SQLiteToPostgres`).
public enum StoreMigration {
    /// Copies `DATA_DIR/gururmm.sqlite` into the database at `url`; returns the rows per table.
    /// Refuses while the data directory's server runs, and a database that holds rows.
    public static func migrate(dataDirectory: String, to url: String, passwordFile: String?, environment: [String: String],
                               logger: Logger) async throws -> [SQLiteToPostgres.TableCount] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dataDirectory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw StartupError("--from: \(dataDirectory) is not a directory")
        }
        let data = try DataDirectory(path: dataDirectory)
        guard FileManager.default.fileExists(atPath: data.databasePath) else {
            throw StartupError("--from: \(data.databasePath) does not exist: not a server's data directory")
        }
        if let pid = runningServer(readyPath: data.readyPath) {
            throw StartupError("the server of \(dataDirectory) is running (pid \(pid), from \(data.readyPath)): stop it first, so nothing changes while it is copied. If no server runs there, remove \(data.readyPath)")
        }
        let options = ServerOptions(dataDirectory: dataDirectory, store: .postgres(url: url, passwordFile: passwordFile))
        let opened = try await OpenedStore.open(options, data: data, environment: environment, logger: logger)
        defer { opened.close() }
        guard let target = opened.store as? PostgresStore else { throw StartupError("--to must be a postgres:// URL") }
        let source = try SQLiteStore(path: data.databasePath)
        do {
            return try await SQLiteToPostgres.copy(from: source, to: target)
        } catch let error as StoreError {
            throw StartupError("the migration failed and committed nothing: \(error)")
        }
    }

    /// The pid in the data directory's `server.json` if that process is alive.
    static func runningServer(readyPath: String) -> Int32? {
        guard let data = FileManager.default.contents(atPath: readyPath),
              let ready = try? APICoding.decoder().decode(ServerReady.self, from: data), ready.pid > 0 else { return nil }
        // Signal 0 checks that the process exists; EPERM means it exists under another user.
        return kill(ready.pid, 0) == 0 || errno == EPERM ? ready.pid : nil
    }
}
